"""The demo's baselines, measured in the same run: logistic regression on simple features.

- images: raw 8×8 pixels, standardised with the training split's statistics;
- audio: each clip's mean and standard deviation over time of its plain log-Mel filterbank
  (no trimming, no per-utterance normalisation): a 2 × bins vector.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["logistic_regression_accuracy", "clip_stats_features"]


def logistic_regression_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> tuple[float, np.ndarray]:
    """Held-out accuracy and predictions of a standardised multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    model.fit(train_x, train_y)
    predicted = model.predict(test_x)
    return float((predicted == test_y).mean()), predicted


def clip_stats_features(paths: list[str], num_mel_bins: int, cache: Path | None) -> np.ndarray:
    """``[N, 2 * bins]``: per-clip mean and std over frames of the plain log-Mel filterbank."""
    if cache is not None and cache.exists():
        return torch.load(cache, weights_only=True).numpy()
    from polymodal.modalities.audio import AudioTransform, read_audio
    from polymodal.recipes.digits_av.features import torch_threads

    transform = AudioTransform(num_mel_bins=num_mel_bins, mean=None, std=None)
    rows = []
    with torch_threads(1):
        for path in paths:
            feats = transform(read_audio(path)).features  # [F, bins]
            rows.append(torch.cat([feats.mean(0), feats.std(0)]))
    matrix = torch.stack(rows)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + f".tmp-{os.getpid()}")
        torch.save(matrix, tmp)
        os.replace(tmp, cache)
    return matrix.numpy()
