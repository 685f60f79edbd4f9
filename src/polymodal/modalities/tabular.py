"""Tabular rows: CSV/Parquet with a schema → FT-Transformer feature tokens (one per column).

A tabular *sample* is one row. A manifest's ``tabular`` field (and a file given to
``polymodal predict``) points at a file holding that row alone: a header line and one line of
values (:func:`read_row`); ``read_table`` reads a whole table for fitting and analysis.

Gorishniy et al. (2021), "Revisiting Deep Learning Models for Tabular Data": a numeric
value ``x_j`` becomes ``x_j · w_j + b_j``; a category becomes its column's embedding plus
``b_j``. A missing value becomes a learned per-column token, so no NaN ever reaches the
model. Statistics (numeric mean/std, category vocabularies) are fitted on training rows
and saved in ``config()`` so that preprocessing travels with the weights.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.errors import ConfigError, InputError
from polymodal.modalities import limits
from polymodal.modalities._common import require_file
from polymodal.modalities.base import MODALITIES, TOKENIZERS, Batch, Modality, Tokenizer
from polymodal.tokens import Tokens

__all__ = ["read_table", "read_row", "TabularTransform", "TabularSample", "TabularBatch", "collate_tabular", "FeatureTokenizer"]

# Categorical ids 0 and 1 are reserved: a missing value and a category unseen in training.
MISSING_ID, UNKNOWN_ID = 0, 1
# Standardised values are clipped to ±Z_LIMIT: an outlier of 1e308 must not become inf in float32.
Z_LIMIT = 1e4
_MISSING_TEXT = {"", "na", "nan", "null", "none", "?"}


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows of a CSV/TSV or Parquet file as dicts; ``columns`` the schema's, checked against the header."""
    source, suffix = str(path), Path(path).suffix.lower()
    require_file(path)
    limits.check(source, "text_bytes", Path(path).stat().st_size, "a table file size in bytes")
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError(source, "pyarrow installed to read Parquet (pip install pyarrow)", "no pyarrow") from None
        try:
            data = pq.read_table(path).to_pydict()
        except Exception as exc:
            raise InputError(source, "a readable Parquet file", f"unreadable ({type(exc).__name__}: {exc})") from None
        header = list(data)
        rows = [dict(zip(header, values, strict=True)) for values in zip(*data.values(), strict=True)]
    elif suffix in (".csv", ".tsv"):
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f, delimiter="\t" if suffix == ".tsv" else ",")
            try:
                header = next(reader, None)
            except csv.Error as exc:
                raise InputError(f"{source}:1", "a CSV header row", str(exc)) from None
            if header is None:
                raise InputError(source, "a header row of column names", "an empty file")
            rows = []
            numbered = enumerate(reader, start=2)
            while True:
                try:
                    number, values = next(numbered)
                except StopIteration:
                    break
                except csv.Error as exc:  # a NUL byte, a field beyond csv's size limit
                    raise InputError(f"{source}:{reader.line_num}", "a well-formed CSV row", str(exc)) from None
                if len(values) != len(header):
                    raise InputError(f"{source}:{number}", f"{len(header)} fields as in the header", f"{len(values)} fields")
                rows.append(dict(zip(header, values, strict=True)))
    else:
        raise InputError(source, "a .csv, .tsv or .parquet file", suffix or "no suffix")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        # dict(zip(header, row)) would keep only the last of them: a column silently lost.
        raise InputError(source, "distinct column names in the header", f"{', '.join(map(repr, repeated))} more than once")
    if columns is not None:
        missing = [c for c in columns if c not in header]
        if missing:
            raise InputError(source, f"the schema's columns {list(columns)}", f"header {header} (missing {missing})")
    return rows


def read_row(path: str | Path) -> dict[str, Any]:
    """The one row of a CSV/TSV/Parquet file that holds a single sample (header + one line)."""
    rows = read_table(path)
    if len(rows) != 1:
        raise InputError(
            str(path), "one row (a tabular sample is a file holding its row alone: a header and one line)", f"{len(rows)} rows",
            hint="write one file per row (polymodal's tabular data sets do: rows/NNNN.csv)",
        )
    return rows[0]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _MISSING_TEXT


@dataclass
class TabularSample:
    """One row: ``numeric [n_num]`` (0 where missing), ``missing [n_num]`` bool, ``categorical [n_cat]`` ids."""

    numeric: Tensor
    missing: Tensor
    categorical: Tensor


@dataclass
class TabularTransform(Configurable):
    """A row (mapping column → value) → :class:`TabularSample`, with fitted statistics.

    Args:
        numeric: numeric column names, in token order.
        categorical: categorical column names, after the numeric tokens.
        mean, std: per numeric column (from :meth:`fit`); values are standardised.
        categories: per categorical column, the training vocabulary (ids start at 2).

    Build with ``TabularTransform.fit(rows, numeric=[...], categorical=[...])``;
    ``TabularTransform.from_config(transform.config())`` rebuilds the same transform.
    """

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    mean: list[float] | None = None
    std: list[float] | None = None
    categories: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        if self.mean is not None and self.std is not None and not (
            np.isfinite(self.mean).all() and np.isfinite(self.std).all() and (np.asarray(self.std, dtype=float) > 0).all()
        ):
            raise InputError("TabularTransform", "finite means and positive, finite stds", (self.mean, self.std))
        if self.mean is None or self.std is None or self.categories is None:
            raise InputError("TabularTransform", "fitted statistics (use TabularTransform.fit(rows, ...))", None)
        if len(self.mean) != len(self.numeric) or set(self.categories) != set(self.categorical):
            raise InputError("TabularTransform", "one mean/std per numeric column and a vocabulary per categorical one", None)
        self._lookup = {c: {v: i + 2 for i, v in enumerate(vocab)} for c, vocab in self.categories.items()}

    @classmethod
    def fit(
        cls, rows: Iterable[Mapping[str, Any]], numeric: Sequence[str] | None = None, categorical: Sequence[str] | None = None
    ) -> TabularTransform:
        """Mean/std of each numeric column and the sorted vocabulary of each categorical one
        (missing values skipped).

        Without ``numeric`` and ``categorical``, every column of the first row is used: numeric
        where every value present parses as a number, categorical otherwise. With only one of
        them given, the other is empty.
        """
        rows = list(rows)
        if not rows:
            raise InputError("rows", "at least one row to fit the statistics on", "none")
        if numeric is None and categorical is None:
            numeric, categorical = _infer_schema(rows)
        numeric, categorical = list(numeric or ()), list(categorical or ())
        columns = {c: [] for c in [*numeric, *categorical]}
        if not columns:
            raise InputError("columns", "at least one numeric or categorical column", "none")
        for i, row in enumerate(rows):
            _check_columns(row, columns, f"rows[{i}]")
            for c in columns:
                if not _is_missing(row[c]):
                    columns[c].append(row[c])
        mean, std = [], []
        for c in numeric:
            values = np.asarray([_to_float(v, c) for v in columns[c]], dtype=np.float64)
            if not np.isfinite(values).all():
                raise InputError(f"column {c!r}", "finite numbers (missing values may be empty/NA)", "NaN or inf")
            m, s = _mean_std(values)
            mean.append(m)
            std.append(s)
        categories = {c: sorted({str(v) for v in columns[c]}) for c in categorical}
        return cls(numeric, categorical, mean, std, categories)

    @staticmethod
    def is_fitted(options: Mapping[str, Any]) -> bool:
        """Whether ``options`` hold fitted statistics (else :meth:`fit` must make them)."""
        return all(options.get(k) is not None for k in ("mean", "std", "categories"))

    @property
    def cardinalities(self) -> list[int]:
        """Embedding rows per categorical column (vocabulary + missing + unknown)."""
        return [len(self.categories[c]) + 2 for c in self.categorical]

    def __call__(self, row: Mapping[str, Any]) -> TabularSample:
        _check_columns(row, [*self.numeric, *self.categorical], "row")
        numeric = np.zeros(len(self.numeric), dtype=np.float32)
        missing = np.zeros(len(self.numeric), dtype=bool)
        for j, c in enumerate(self.numeric):
            if _is_missing(row[c]):
                missing[j] = True
                continue
            value = _to_float(row[c], c)
            if not math.isfinite(value):
                raise InputError(f"column {c!r}", "a finite number or an empty/NA value", repr(row[c]))
            # Each term divided first: 1e308 - (-1e308) would overflow; an extreme outlier saturates.
            z = value / self.std[j] - self.mean[j] / self.std[j]
            numeric[j] = min(max(z, -Z_LIMIT), Z_LIMIT)
        ids = [
            MISSING_ID if _is_missing(row[c]) else self._lookup[c].get(str(row[c]), UNKNOWN_ID) for c in self.categorical
        ]
        return TabularSample(torch.from_numpy(numeric), torch.from_numpy(missing), torch.tensor(ids, dtype=torch.long))


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and population std of finite float64 ``values``, stable up to 1e308 (computed on
    values divided by their largest magnitude); a constant column gets std 1."""
    if values.size == 0:
        return 0.0, 1.0
    scale = float(np.abs(values).max()) or 1.0
    scaled = values / scale
    mean, std = float(scaled.mean()) * scale, float(scaled.std()) * scale
    return mean, std if std > 0 and math.isfinite(std) else 1.0


def _to_float(value: Any, column: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"column {column!r}", "a number (it is a numeric column)", repr(value)) from None


def _infer_schema(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    numeric, categorical = [], []
    for c in rows[0]:
        present = [row.get(c) for row in rows if not _is_missing(row.get(c))]
        try:
            [float(v) for v in present]
        except (TypeError, ValueError):
            categorical.append(c)
            continue
        numeric.append(c)
    return numeric, categorical


def _check_columns(row: Mapping[str, Any], columns: Iterable[str], field_name: str) -> None:
    absent = [c for c in columns if c not in row]
    if absent:
        raise InputError(field_name, f"the schema's columns (missing {absent})", f"columns {list(row)}")


@dataclass
class TabularBatch(Batch):
    """``numeric [B, n_num]``, ``missing [B, n_num]`` bool, ``categorical [B, n_cat]`` long."""

    numeric: Tensor
    missing: Tensor
    categorical: Tensor


def collate_tabular(samples: Sequence[TabularSample]) -> TabularBatch:
    if not samples or any(not isinstance(s, TabularSample) for s in samples):
        raise InputError("samples", "TabularSample objects from TabularTransform", [type(s).__name__ for s in samples])
    return TabularBatch(
        torch.stack([s.numeric for s in samples]),
        torch.stack([s.missing for s in samples]),
        torch.stack([s.categorical for s in samples]),
    )


@TOKENIZERS.register("ft_tokenizer")
class FeatureTokenizer(Tokenizer):
    """FT-Transformer's feature tokenizer: one token per column.

    Args:
        dim: token width D.
        num_numeric: numeric columns.
        cardinalities: rows per categorical column (``TabularTransform.cardinalities``).

    Inputs: :class:`TabularBatch`.

    Returns: Tokens ``[B, num_numeric + len(cardinalities), D]``, all real.
    """

    modality = "tabular"

    def __init__(self, dim: int = 192, *, num_numeric: int = 0, cardinalities: Sequence[int] = ()) -> None:
        super().__init__()
        self.dim, self.num_numeric, self.cardinalities = dim, num_numeric, list(cardinalities)
        n_cols = num_numeric + len(self.cardinalities)
        if n_cols == 0:
            raise InputError("FeatureTokenizer", "at least one column", "none")
        scale = dim**-0.5  # FT-Transformer's uniform(-1/sqrt(d), 1/sqrt(d)) initialisation
        self.weight = nn.Parameter(torch.empty(num_numeric, dim).uniform_(-scale, scale))
        self.missing_token = nn.Parameter(torch.empty(num_numeric, dim).uniform_(-scale, scale))
        self.bias = nn.Parameter(torch.empty(n_cols, dim).uniform_(-scale, scale))
        self.embed = nn.Embedding(max(sum(self.cardinalities), 1), dim)
        nn.init.uniform_(self.embed.weight, -scale, scale)
        offsets = torch.tensor([0, *self.cardinalities[:-1]], dtype=torch.long).cumsum(0) if self.cardinalities else torch.zeros(0, dtype=torch.long)
        self.register_buffer("offsets", offsets, persistent=False)

    def forward(self, batch: TabularBatch) -> Tokens:
        if not isinstance(batch, TabularBatch):
            raise InputError("batch", "a TabularBatch (collate_tabular)", type(batch).__name__)
        if batch.numeric.shape[1] != self.num_numeric or batch.categorical.shape[1] != len(self.cardinalities):
            raise InputError(
                "batch", f"{self.num_numeric} numeric and {len(self.cardinalities)} categorical columns",
                f"{batch.numeric.shape[1]} and {batch.categorical.shape[1]}",
            )
        limit = torch.tensor(self.cardinalities, device=batch.categorical.device)
        if bool(((batch.categorical < 0) | (batch.categorical >= limit)).any()):
            raise InputError("batch.categorical", f"ids below the cardinalities {self.cardinalities}", batch.categorical)
        numeric = batch.numeric[..., None] * self.weight  # [B, n_num, D]
        numeric = torch.where(batch.missing[..., None], self.missing_token.expand_as(numeric), numeric)
        categorical = self.embed(batch.categorical + self.offsets)  # [B, n_cat, D]
        emb = torch.cat([numeric, categorical], dim=1) + self.bias
        return Tokens.dense(emb, self.modality)


@MODALITIES.register("tabular")
class TabularModality(Modality):
    """CSV/Parquet rows with a numeric + categorical schema → one FT-Transformer token per column."""

    extensions = (".csv", ".parquet")
    reads = (".tsv",)
    read = staticmethod(read_row)
    transform = TabularTransform
    collate = staticmethod(collate_tabular)
    default_tokenizer = "ft_tokenizer"

    @classmethod
    def build_transform(cls, options: Mapping[str, Any], fit_on: Callable[[], Sequence[Any]] | None = None) -> TabularTransform:
        """Options with statistics (``mean``, ``std``, ``categories``) build the transform as
        they are; options without them (``numeric`` and ``categorical`` column lists, or none:
        the schema is inferred) are fitted on the training rows."""
        options = dict(options)
        if TabularTransform.is_fitted(options):
            return TabularTransform(**options)
        given = sorted(k for k in ("mean", "std", "categories") if options.get(k) is not None)
        unknown = sorted(set(options) - {"numeric", "categorical", "mean", "std", "categories"})
        if given or unknown:
            raise ConfigError(
                "transforms.tabular", "numeric and categorical column lists (fitted on the training rows), or every "
                "fitted statistic (mean, std, categories)", f"only {given}" if given else f"unknown options {unknown}",
            )
        if fit_on is None:
            raise ConfigError("transforms.tabular", "fitted statistics (mean, std, categories) or training rows to fit them on", "neither")
        return TabularTransform.fit(fit_on(), options.get("numeric"), options.get("categorical"))

    @classmethod
    def tokenizer_defaults(cls, transform: TabularTransform, tokenizer: str) -> dict[str, Any]:
        if tokenizer != "ft_tokenizer":
            return {}
        return {"num_numeric": len(transform.numeric), "cardinalities": transform.cardinalities}
