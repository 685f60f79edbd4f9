"""``tabular``: scikit-learn's breast cancer and wine sets as CSV with a schema.

Each set becomes a sub-folder::

    tabular/breast_cancer/data.csv       every row: features, "target" (class name), "split"
                          schema.json    columns (numeric / categorical), target, classes
                          classes.json   class names; a manifest label indexes them
                          manifest.jsonl one line per row: "tabular" → rows/NNNN.csv
                          rows/NNNN.csv  the row alone (header + one line, no target/split)

The per-row files let a manifest point at one sample like any other modality; ``data.csv``
holds the whole table for tools that want it at once.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from polymodal._files import write_json
from polymodal.recipes.datasets.base import BUILDERS, DatasetBuilder
from polymodal.recipes.datasets.files import markdown_table, write_manifest
from polymodal.errors import ConfigError

__all__ = ["DATASETS"]

# name → (sklearn loader name, source and licence line for the card)
DATASETS = {
    "breast_cancer": (
        "load_breast_cancer",
        "Breast Cancer Wisconsin (Diagnostic), W. Wolberg, O. Mangasarian, N. Street, W. Street (1993), "
        "UCI Machine Learning Repository; CC BY 4.0",
    ),
    "wine": (
        "load_wine",
        "Wine, M. Forina et al. (1991), UCI Machine Learning Repository; CC BY 4.0",
    ),
}


def _format(value: float) -> str:
    return repr(float(value))  # shortest text that reads back to the same float


def _write_one(folder: Path, name: str, test_size: float, seed: int) -> dict[str, Any]:
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    data = getattr(sklearn.datasets, DATASETS[name][0])()
    features: list[str] = [str(f) for f in data.feature_names]
    classes: list[str] = [str(c) for c in data.target_names]
    x, y = np.asarray(data.data, dtype=np.float64), np.asarray(data.target)
    _, test_idx = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y, random_state=seed)
    test = set(test_idx.tolist())
    out = folder / name
    (out / "rows").mkdir(parents=True)
    rows = []
    with open(out / "data.csv", "w", newline="", encoding="utf-8") as f:
        table = csv.writer(f)
        table.writerow([*features, "target", "split"])
        for i in range(len(y)):
            split = "test" if i in test else "train"
            values = [_format(v) for v in x[i]]
            table.writerow([*values, classes[y[i]], split])
            rel = f"rows/{i:04d}.csv"
            with open(out / rel, "w", newline="", encoding="utf-8") as g:
                one = csv.writer(g)
                one.writerow(features)
                one.writerow(values)
            rows.append({"id": f"{name}-{i:04d}", "split": split, "label": int(y[i]), "tabular": rel, "meta": {"row": i}})
    schema = {
        "columns": [{"name": f, "type": "numeric"} for f in features],
        "numeric": features,
        "categorical": [],
        "target": "target",
        "task": "classification",
        "classes": classes,
        "split_column": "split",
    }
    write_json(out / "schema.json", schema, sort_keys=False)
    write_json(out / "classes.json", classes, sort_keys=False)
    write_manifest(out / "manifest.jsonl", rows)
    return {
        "train": len(y) - len(test),
        "test": len(test),
        "features": len(features),
        "classes": classes,
    }


def _card(summary: dict[str, dict[str, Any]], test_size: float, seed: int) -> str:
    table = markdown_table(
        ["dataset", "train", "test", "numeric features", "categorical", "classes"],
        [[n, s["train"], s["test"], s["features"], 0, ", ".join(s["classes"])] for n, s in summary.items()],
    )
    sources = "\n".join(f"- `{n}`: {DATASETS[n][1]}; as shipped by scikit-learn." for n in summary)
    return f"""# tabular

Two small tabular classification sets from scikit-learn, built offline by
`polymodal.recipes.datasets.build("tabular")`.

{table}

## Layout
One folder per set: `data.csv` (all rows: the features, `target` as the class name and
`split`), `schema.json` (each column's type, `numeric` and `categorical` lists, the target
column, the classes), `classes.json`, `manifest.jsonl` (one line per row; `tabular` points
at `rows/NNNN.csv`, that row alone with the header and without target or split; `label`
indexes `classes.json`; `meta.row` is the row in `data.csv`).

## Splits
{100 * test_size:.0f} % of the rows in `test`, stratified by class (scikit-learn
`train_test_split`, `random_state={seed}`); the rest `train`.

## Sources and licences
{sources}
"""


def write(folder: Path, *, test_size: float = 0.3, seed: int = 0) -> dict[str, Any]:
    """Write the tabular sets into the empty ``folder``.

    Args:
        test_size: share of rows in ``test`` (stratified).
        seed: the split's random state.
    """
    if not 0 < test_size < 1:
        raise ConfigError("build('tabular').test_size", "a share between 0 and 1", test_size)
    summary = {name: _write_one(folder, name, test_size, seed) for name in DATASETS}
    write_json(folder / "datasets.json", summary, sort_keys=False)
    (folder / "README.md").write_text(_card(summary, test_size, seed), encoding="utf-8")
    return summary


@BUILDERS.register("tabular")
class Tabular(DatasetBuilder):
    """scikit-learn breast cancer and wine as CSV + schema, stratified 70/30 split."""

    version = 1
    write = staticmethod(write)
