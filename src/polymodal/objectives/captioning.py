"""Captioning loss: next-token cross-entropy under teacher forcing.

The decoder reads the ground-truth caption shifted right (``<bos> w1 w2 …``) and predicts
it shifted left (``w1 w2 … <eos>``) at every position at once (Vinyals et al., "Show and
Tell", 2015; the transformer decoder of Vaswani et al., 2017). Padding carries no loss.
Label smoothing (Szegedy et al., 2016) is optional.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.errors import ConfigError, InputError
from polymodal.objectives.base import OBJECTIVES, ObjectiveOutput

__all__ = ["CaptioningLoss", "teacher_forcing"]


def teacher_forcing(tokens: Tensor, pad_id: int) -> tuple[Tensor, Tensor]:
    """Split ``[B, T]`` captions ``<bos> … <eos> <pad>…`` into decoder inputs and targets.

    Returns:
        ``(inputs [B, T-1], targets [B, T-1])``: ``tokens[:, :-1]`` and ``tokens[:, 1:]``
        with padding targets set to ``-100``.
    """
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise InputError("tokens", "a long tensor [B, T] with T >= 2 (<bos> and at least one target)", tokens)
    targets = tokens[:, 1:].masked_fill(tokens[:, 1:] == pad_id, -100)
    return tokens[:, :-1], targets


@OBJECTIVES.register("captioning")
class CaptioningLoss(Configurable, nn.Module):
    """Token-level cross-entropy over ``[B, T, V]`` logits, padding ignored.

    Args:
        label_smoothing: mass spread uniformly over the vocabulary (0 = none).
        ignore_index: target value that carries no loss.

    Inputs:
        logits: ``[B, T, V]``; targets: ``[B, T]`` (``ignore_index`` at padding).

    Returns:
        :class:`ObjectiveOutput` with term ``captioning`` and metrics ``token_accuracy``,
        ``perplexity`` (of the unsmoothed cross-entropy) and ``num_tokens``.
    """

    def __init__(self, *, label_smoothing: float = 0.0, ignore_index: int = -100) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError("captioning.label_smoothing", "a value in [0, 1)", repr(label_smoothing))
        self.label_smoothing = label_smoothing
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, targets: Tensor) -> ObjectiveOutput:
        if logits.ndim != 3 or tuple(logits.shape[:2]) != tuple(targets.shape):
            raise InputError("logits", f"[B, T, V] logits matching targets {list(targets.shape)}", logits)
        flat_logits, flat_targets = logits.flatten(0, 1), targets.flatten()
        loss = F.cross_entropy(
            flat_logits, flat_targets, ignore_index=self.ignore_index, label_smoothing=self.label_smoothing
        )
        with torch.no_grad():
            real = flat_targets != self.ignore_index
            nll = F.cross_entropy(flat_logits, flat_targets, ignore_index=self.ignore_index)
            accuracy = ((flat_logits.argmax(-1) == flat_targets) & real).sum() / real.sum().clamp_min(1)
        return ObjectiveOutput(
            loss=loss,
            terms={"captioning": loss},
            metrics={"token_accuracy": accuracy, "perplexity": nll.exp(), "num_tokens": real.sum().float()},
        )
