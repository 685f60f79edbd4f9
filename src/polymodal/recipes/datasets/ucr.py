"""``ucr``: four UCR/UEA time-series classification problems from the files ``aeon`` ships.

GunPoint (univariate motion), BasicMotions (6-channel smartwatch IMU: accelerometer and
gyroscope), JapaneseVowels (12 LPC cepstrum channels, variable length) and ArrowHead
(univariate shape outlines). Each becomes a sub-folder with its own manifest, because
their classes differ::

    ucr/README.md, ucr/datasets.json
    ucr/GunPoint/manifest.jsonl, classes.json, source/GunPoint_{TRAIN,TEST}.ts,
                 series/{train,test}/NNNN.npy

Each sample's ``time_series`` field points at a ``.npy`` file holding a float32 array
``[C, T]`` (channels first; missing values NaN); splits are the archive's TRAIN/TEST.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from polymodal._files import write_json
from polymodal.recipes.datasets.base import BUILDERS, DatasetBuilder
from polymodal.recipes.datasets.files import markdown_table, write_manifest
from polymodal.modalities.ts_format import read_ts
from polymodal.errors import ConfigError

__all__ = ["DATASETS", "aeon_data_folder"]

# name → one line for the card (what the series are and what the channels hold).
DATASETS = {
    "GunPoint": "x-coordinate of an actor's hand: drawing a gun vs pointing a finger (univariate, length 150)",
    "BasicMotions": "smartwatch IMU, 3-D accelerometer and 3-D gyroscope (6 channels, length 100): "
    "standing, walking, running, badminton",
    "JapaneseVowels": "12 LPC cepstrum coefficients of nine male speakers saying /ae/ (12 channels, "
    "variable length 7–29); the class is the speaker",
    "ArrowHead": "outlines of projectile points as angle series (univariate, length 251): Avonlea, Clovis, Mix",
}


def aeon_data_folder() -> Path:
    """``aeon/datasets/data`` in the installed ``aeon`` package (found without importing aeon)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("ucr", "the 'aeon' package installed (it ships the archive files)", "not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _write_one(folder: Path, name: str, source: Path) -> dict[str, Any]:
    out = folder / name
    (out / "source").mkdir(parents=True)
    rows: list[dict[str, Any]] = []
    classes: list[str] | None = None
    lengths: list[int] = []
    channels = set()
    for split in ("train", "test"):
        ts_path = source / name / f"{name}_{split.upper()}.ts"
        shutil.copy2(ts_path, out / "source" / ts_path.name)
        parsed = read_ts(ts_path)
        if classes is None:
            classes = parsed.classes
        elif parsed.classes != classes:
            raise ConfigError(f"ucr.{name}", f"the same classes in TRAIN and TEST ({classes})", parsed.classes)
        (out / "series" / split).mkdir(parents=True)
        for i, (series, label) in enumerate(zip(parsed.series, parsed.labels, strict=True)):
            rel = f"series/{split}/{i:04d}.npy"
            np.save(out / rel, series)
            lengths.append(series.shape[1])
            channels.add(series.shape[0])
            rows.append({
                "id": f"{name}-{split}-{i:04d}", "split": split, "label": classes.index(label),
                "time_series": rel, "meta": {"dataset": name, "source": ts_path.name, "row": i},
            })  # fmt: skip
    write_manifest(out / "manifest.jsonl", rows)
    write_json(out / "classes.json", classes, sort_keys=False)
    return {
        "train": sum(r["split"] == "train" for r in rows),
        "test": sum(r["split"] == "test" for r in rows),
        "classes": len(classes or []),
        "channels": sorted(channels)[0] if len(channels) == 1 else sorted(channels),
        "length": f"{min(lengths)}–{max(lengths)}" if min(lengths) != max(lengths) else min(lengths),
    }


def _card(summary: dict[str, dict[str, Any]]) -> str:
    table = markdown_table(
        ["dataset", "train", "test", "classes", "channels", "length", "what"],
        [[n, s["train"], s["test"], s["classes"], s["channels"], s["length"], DATASETS[n]] for n, s in summary.items()],
    )
    return f"""# ucr

Four time-series classification problems of the UCR/UEA archive, built offline by
`polymodal.recipes.datasets.build("ucr")` from the `.ts` files that the `aeon` package ships.

{table}

## Layout
One folder per problem, each with `manifest.jsonl`, `classes.json` (the archive's labels in
their declared order; `label` is an index into it), `source/` (the `.ts` files, copied
unchanged) and `series/<split>/NNNN.npy`: one float32 array `[C, T]` per series (channels
first, NaN for missing values). The manifest's `time_series` field points at the `.npy`
file; `meta` names the source file and row. `datasets.json` summarises the problems.

## Splits
The archive's own TRAIN and TEST files, unchanged (`split` = `train` / `test`).

## Sources and licences
UCR Time Series Classification Archive (Dau et al., 2019) and UEA Multivariate Time Series
Classification Archive (Bagnall et al., 2018), www.timeseriesclassification.com, as
redistributed by aeon (BSD-3-Clause). The archives make the data freely available for
research; cite the archive papers and the original donors of each problem, and check
the original terms before other uses.
"""


def write(folder: Path, *, datasets: tuple[str, ...] = tuple(DATASETS)) -> dict[str, Any]:
    """Write the ``ucr`` problems into the empty ``folder``.

    Args:
        datasets: which of :data:`DATASETS` to include.
    """
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ConfigError("build('ucr').datasets", f"names among {', '.join(DATASETS)}", unknown)
    source = aeon_data_folder()
    summary = {name: _write_one(folder, name, source) for name in datasets}
    write_json(folder / "datasets.json", summary, sort_keys=False)
    (folder / "README.md").write_text(_card(summary), encoding="utf-8")
    return summary


@BUILDERS.register("ucr")
class UCR(DatasetBuilder):
    """UCR/UEA time series: GunPoint, BasicMotions (IMU), JapaneseVowels, ArrowHead (from aeon)."""

    version = 1
    write = staticmethod(write)
