"""A small generated data set of real files: NIR spectra of fabrics, some with a photo.

Near-infrared spectra sort textiles by fibre (recycling plants do it on conveyor belts):
cellulose (cotton), polyester and protein (wool) absorb at different overtone bands. Each
sample here is a ``.spec`` file drawn from its class's absorption bands, with what makes
real spectra hard: every instrument its own wavelength grid, a baseline offset and slope,
multiplicative scatter, band shifts and noise. About ``photo_share`` of the samples also
have a small grey PNG "photo" of the weave (stripes whose direction depends loosely on the
fibre, under heavy noise), so a manifest holds samples with and without the image.

``write_fabrics(root)`` writes ``root/spec/*.spec``, ``root/img/*.png``,
``root/manifest.jsonl`` (splits ``train``/``val``) and ``root/classes.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from polymodal_example_plugin.spectrum import write_spectrum

__all__ = ["CLASSES", "BANDS", "fabric_spectrum", "write_fabrics"]

CLASSES = ("cotton", "polyester", "wool")
# Absorption bands (centre nm, width nm, depth) per fibre; shared bands differ in depth.
BANDS: dict[str, list[tuple[float, float, float]]] = {
    "cotton": [(1200.0, 40.0, 0.30), (1490.0, 60.0, 0.45), (1590.0, 50.0, 0.30)],
    "polyester": [(1140.0, 35.0, 0.35), (1420.0, 50.0, 0.25), (1660.0, 30.0, 0.40)],
    "wool": [(1190.0, 40.0, 0.30), (1510.0, 50.0, 0.45), (1690.0, 35.0, 0.25)],
}


def fabric_spectrum(fibre: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One simulated reflectance spectrum ``(wavelengths [L], intensities [L])`` of ``fibre``."""
    start, stop = 880.0 + rng.uniform(0, 15), 1720.0 - rng.uniform(0, 15)
    wavelengths = np.linspace(start, stop, int(rng.integers(150, 260)))  # the instrument's own grid
    absorbance = np.zeros_like(wavelengths)
    for centre, width, depth in BANDS[fibre]:
        centre += rng.normal(0, 20)  # moisture and blends shift bands
        absorbance += depth * rng.uniform(0.5, 1.5) * np.exp(-0.5 * ((wavelengths - centre) / width) ** 2)
    baseline = rng.uniform(0.2, 0.6) + rng.normal(0, 1e-4) * (wavelengths - 1300.0)
    scatter = rng.uniform(0.6, 1.4)
    intensities = scatter * (baseline + absorbance) + rng.normal(0, 0.05, wavelengths.shape)
    return wavelengths, intensities


def _photo(fibre: str, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    # The weave's direction in the photo depends on the fibre, loosely (cameras are not aligned).
    angle = {"cotton": 0.0, "polyester": np.pi / 3, "wool": 2 * np.pi / 3}[fibre] + rng.normal(0, 0.35)
    period = rng.uniform(3.0, 5.0)
    y, x = np.mgrid[0:size, 0:size]
    stripes = 0.5 + 0.25 * np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)
    return (np.clip(stripes + rng.normal(0, 0.25, stripes.shape), 0, 1) * 255).astype(np.uint8)


def write_fabrics(root: str | Path, *, per_class: int = 60, val_share: float = 0.25, photo_share: float = 0.6, seed: int = 0) -> Path:
    """Write the data set into ``root``; returns the manifest's path."""
    root = Path(root)
    (root / "spec").mkdir(parents=True, exist_ok=True)
    (root / "img").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for k in range(per_class * len(CLASSES)):
        fibre = CLASSES[k % len(CLASSES)]
        wavelengths, intensities = fabric_spectrum(fibre, rng)
        write_spectrum(root / "spec" / f"{k}.spec", wavelengths, intensities, instrument=f"unit-{rng.integers(1, 5)}", unit="nm")
        line = {"id": str(k), "spectrum": f"spec/{k}.spec", "label": fibre}
        if rng.random() < photo_share:
            Image.fromarray(_photo(fibre, rng)).save(root / "img" / f"{k}.png")
            line["image"] = f"img/{k}.png"
        line["split"] = "val" if rng.random() < val_share else "train"
        lines.append(line)
    (root / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (root / "classes.json").write_text(json.dumps(list(CLASSES)))
    return root / "manifest.jsonl"
