"""A small, fast stand-in task: classify scikit-learn's 8×8 digits with a tiny transformer.

It exercises every generic part of the trainer (groups, schedule, accumulation, clipping,
bf16, checkpoints, resume, DDP) on real data in a second or two on a CPU, which is what
the trainer's tests need. Each image row becomes one token (a linear map of its 8 pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from polymodal.encoder import EncoderConfig, TransformerEncoder
from polymodal.tokens import Tokens
from polymodal.training.config import StrictModel
from polymodal.objectives.base import ObjectiveOutput
from polymodal.training.tasks import IndexedData, TrainingTask

__all__ = ["DigitsClassifierTask", "RowTokenClassifier"]


class _Model(StrictModel):
    dim: int = Field(32, gt=0)
    depth: int = Field(2, gt=0)
    num_heads: int = Field(4, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)


class _Data(StrictModel):
    # Fraction of the 1,797 digits held out for evaluation (a fixed, seeded split).
    test_fraction: float = Field(0.2, gt=0, lt=1)
    # Std of Gaussian noise added to training pixels: consumes the torch RNG, which the resume test needs.
    noise: float = Field(0.0, ge=0)


class RowTokenClassifier(nn.Module):
    """``[B, 8, 8]`` pixels → one token per row → encoder → CLS → 10 logits."""

    def __init__(self, config: _Model) -> None:
        super().__init__()
        self.row = nn.Linear(8, config.dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, 8, config.dim))
        nn.init.normal_(self.pos_embed, std=0.02)
        self.encoder = TransformerEncoder(
            EncoderConfig(dim=config.dim, depth=config.depth, num_heads=config.num_heads, dropout=config.dropout, max_positions=16)
        )
        self.head = nn.Linear(config.dim, 10)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}

    def forward(self, pixels: Tensor) -> Tensor:
        tokens = Tokens.dense(self.row(pixels) + self.pos_embed, "image")  # [B, 8, D]
        return self.head(self.encoder(tokens).pooled)  # [B, 10]


@dataclass
class _Batch:
    pixels: Tensor  # [B, 8, 8]
    labels: Tensor  # [B]

    def to(self, device: torch.device) -> _Batch:
        return _Batch(self.pixels.to(device), self.labels.to(device))


class _Digits(IndexedData):
    def __init__(self, pixels: Tensor, labels: Tensor) -> None:
        self.pixels, self.labels = pixels, labels

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, indices: Tensor) -> _Batch:
        return _Batch(self.pixels[indices], self.labels[indices])


def _split(test_fraction: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32)  # [1797, 8, 8] in [0, 1]
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.from_numpy(np.random.RandomState(0).permutation(len(y)))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


class DigitsClassifierTask(TrainingTask):
    """Cross-entropy on sklearn digits; ``evaluate`` reports held-out ``accuracy``."""

    ModelConfig = _Model
    DataConfig = _Data

    def build_model(self) -> nn.Module:
        return RowTokenClassifier(self.model_config)

    def train_data(self) -> IndexedData:
        x, y, self._test_x, self._test_y = _split(self.data_config.test_fraction)
        return _Digits(x, y)

    def loss(self, model: nn.Module, batch: _Batch) -> ObjectiveOutput:
        pixels = batch.pixels
        if self.data_config.noise > 0:
            pixels = pixels + self.data_config.noise * torch.randn_like(pixels)
        logits = model(pixels)
        loss = F.cross_entropy(logits.float(), batch.labels)
        return ObjectiveOutput(loss, metrics={"train_accuracy": (logits.argmax(-1) == batch.labels).float().mean()})

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if not hasattr(self, "_test_x"):
            self.train_data()
        device = next(model.parameters()).device
        logits = model(self._test_x.to(device))
        return {"accuracy": float((logits.argmax(-1).cpu() == self._test_y).float().mean())}

    def report(self, run_dir) -> dict[str, float]:
        from polymodal.training.checkpointing import latest_checkpoint, load_checkpoint

        model = self.build_model()
        info = latest_checkpoint(run_dir / "checkpoints")
        if info is not None:
            load_checkpoint(info, model)
        model.eval()
        with torch.no_grad():
            return self.evaluate(model)
