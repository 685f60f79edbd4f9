"""A multimodal classifier composed from parts: tokenizers → fusion → head.

Built by injection, as TorchMultimodal's ``LateFusion(encoders, fusion_module, head_module)``:
the model holds no knowledge of which strategy or modality it runs, so switching strategy
is passing another :class:`~polymodal.fusion.base.Fusion`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from polymodal.errors import ConfigError, InputError
from polymodal.fusion.base import Fusion, FusionOutput
from polymodal.fusion.modality_dropout import ModalityDropout

__all__ = ["FusionClassifier", "FusionClassifierOutput"]


@dataclass
class FusionClassifierOutput:
    """``logits [B, C]`` and the fusion's full output (sequences, pooled, attentions)."""

    logits: Tensor
    fusion: FusionOutput


class FusionClassifier(nn.Module):
    """``head(fusion({m: tokenizer_m(batch[m])}).pooled)``.

    Args:
        tokenizers: modality → module mapping that modality's batch to :class:`Tokens` ``[B, N_m, D]``.
        fusion: any registered fusion strategy.
        head: maps ``pooled [B, D]`` to ``[B, C]`` (a ``nn.Linear`` will do); ``None`` uses the
            fusion's own combined ``logits`` (late fusion with ``num_classes``).
        modality_dropout: optional :class:`ModalityDropout`, applied to the tokens in training.

    Inputs:
        batch: modality → that modality's model input; a modality absent from the batch is
            missing for every sample. ``output_attentions`` is passed to the fusion.
        present: modality → ``[B]`` bool, for modalities that only some samples hold: that
            modality's input then holds just those samples, in order, and the others are
            missing (:meth:`Tokens.scatter`), as a manifest with ``require="any"`` collates.
    """

    def __init__(
        self,
        tokenizers: Mapping[str, nn.Module],
        fusion: Fusion,
        head: nn.Module | None = None,
        *,
        modality_dropout: ModalityDropout | None = None,
    ) -> None:
        super().__init__()
        missing = sorted(set(tokenizers) - set(fusion.modalities))
        if missing:
            raise ConfigError("tokenizers", "modalities among the fusion's " + ", ".join(fusion.modalities), missing)
        self.tokenizers = nn.ModuleDict(dict(sorted(tokenizers.items())))
        self.fusion = fusion
        self.head = head
        self.modality_dropout = modality_dropout

    def forward(
        self,
        batch: Mapping[str, Any],
        *,
        present: Mapping[str, Tensor] | None = None,
        output_attentions: bool = False,
    ) -> FusionClassifierOutput:
        unknown = sorted(set(batch) - set(self.tokenizers))
        if unknown:
            raise InputError("batch", "keys among " + ", ".join(self.tokenizers), unknown)
        tokens = {name: self.tokenizers[name](batch[name]) for name in sorted(batch)}
        for name, rows in (present or {}).items():
            if name in tokens:
                tokens[name] = tokens[name].scatter(rows)
        if self.modality_dropout is not None:
            tokens = self.modality_dropout(tokens)
        out = self.fusion(tokens, output_attentions=output_attentions)
        if self.head is not None:
            logits = self.head(out.pooled)
        elif out.logits is not None:
            logits = out.logits
        else:
            raise ConfigError("head", "a head module, or a fusion that returns logits (late with num_classes)", None)
        return FusionClassifierOutput(logits=logits, fusion=out)
