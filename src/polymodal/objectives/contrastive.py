"""InfoNCE: CLIP's symmetric contrastive loss, for two modalities or many.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision"
(CLIP, 2021): L2-normalised embeddings of ``N`` paired samples give an ``[N, N]``
similarity matrix scaled by a learnable temperature; cross-entropy with the diagonal as
the target, averaged over both directions. The temperature is kept in log space
(``logit_scale``) initialised at ``log(1/0.07)``, and its exponential is clamped at 100
as CLIP does, so that the logits cannot grow without bound.

With more than two modalities every pair is summed, or — as ImageBind (Girdhar et al.,
2023) binds every modality to images — every modality is paired with one anchor; each
pair may carry a weight. Under DDP the features of every rank are gathered first
(:mod:`polymodal.objectives.gather`) so the negatives are the global batch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.errors import ConfigError, InputError
from polymodal.objectives.base import OBJECTIVES, ObjectiveOutput
from polymodal.objectives.gather import gather_features

__all__ = ["InfoNCELoss", "ContrastiveOutput", "info_nce", "pair_name"]


def pair_name(a: str, b: str) -> str:
    """The name of the term for pair ``(a, b)``: ``"a-b"``."""
    return f"{a}-{b}"


@dataclass
class ContrastiveOutput(ObjectiveOutput):
    """:class:`ObjectiveOutput` plus what the matching objective needs.

    Attributes:
        logits: per pair name ``"a-b"``, the scaled similarities ``[N, N]`` of ``a``'s
            rows against ``b``'s columns over the (global) batch.
        scale: the scale applied (``exp(logit_scale)`` clamped at ``max_scale``).
        offset: the row at which this rank's local samples start in ``logits`` (0 when
            not distributed).
    """

    logits: dict[str, Tensor] = field(default_factory=dict)
    scale: Tensor | None = None
    offset: int = 0


def info_nce(a: Tensor, b: Tensor, scale: Tensor | float) -> tuple[Tensor, Tensor]:
    """Symmetric InfoNCE of two aligned batches of L2-normalised embeddings.

    Args:
        a, b: ``[N, D]``; row ``i`` of ``a`` is the positive of row ``i`` of ``b``.
        scale: multiplier of the cosine similarities (``1 / temperature``).

    Returns:
        ``(loss, logits [N, N])`` with ``loss = (CE(logits, diag) + CE(logits.T, diag)) / 2``.
    """
    logits = scale * a @ b.T  # [N, N]
    target = torch.arange(a.shape[0], device=a.device)
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    return loss, logits


@OBJECTIVES.register("infonce")
class InfoNCELoss(Configurable, nn.Module):
    """CLIP's contrastive loss over any set of modalities, with a learnable temperature.

    Args:
        init_temperature: initial temperature; ``logit_scale`` starts at ``log(1/t)``.
        max_scale: clamp of ``exp(logit_scale)`` (CLIP: 100).
        learnable_scale: make ``logit_scale`` a trained parameter (else a buffer).
        pairs: ``"all"`` sums every pair of the given modalities; ``"anchor"`` pairs each
            modality with ``anchor`` only (ImageBind).
        anchor: the anchor modality for ``pairs="anchor"``.
        weights: per-pair weights keyed ``"a-b"`` (either order); missing pairs weigh 1.
        normalize: L2-normalise the embeddings first (turn off for pre-normalised input).
        gather: gather features from every rank under ``torch.distributed``.

    Inputs:
        embeddings: ``{modality: [N, D]}``, at least two modalities, row ``i`` of each being
            the same sample. ``D`` must agree within each pair.
        logit_scale: optional log-space scale to use instead of this module's (a model
            that owns its own, as CLIP's does).

    Returns:
        :class:`ContrastiveOutput` with ``loss`` = Σ weight × pair loss, one term per pair,
        and metrics: ``scale`` and each direction's in-batch top-1 accuracy ``acc/a->b``.
    """

    def __init__(
        self,
        *,
        init_temperature: float = 0.07,
        max_scale: float = 100.0,
        learnable_scale: bool = True,
        pairs: Literal["all", "anchor"] = "all",
        anchor: str | None = None,
        weights: Mapping[str, float] | None = None,
        normalize: bool = True,
        gather: bool = True,
    ) -> None:
        super().__init__()
        if init_temperature <= 0:
            raise ConfigError("infonce.init_temperature", "a positive temperature", repr(init_temperature))
        if pairs not in ("all", "anchor"):
            raise ConfigError("infonce.pairs", "'all' or 'anchor'", repr(pairs))
        if pairs == "anchor" and not anchor:
            raise ConfigError("infonce.anchor", "an anchor modality when pairs='anchor'", repr(anchor))
        init = torch.tensor(math.log(1.0 / init_temperature))
        if learnable_scale:
            self.logit_scale = nn.Parameter(init)
        else:
            self.register_buffer("logit_scale", init)
        self.max_log_scale = math.log(max_scale)
        self.pairs = pairs
        self.anchor = anchor
        self.weights = dict(weights or {})
        self.normalize = normalize
        self.gather = gather

    def scale(self, logit_scale: Tensor | None = None) -> Tensor:
        """``exp(logit_scale)`` clamped at ``max_scale`` (CLIP clips the log, so the gradient stops there too)."""
        log_scale = self.logit_scale if logit_scale is None else logit_scale
        return log_scale.clamp(max=self.max_log_scale).exp()

    def pair_list(self, names: list[str]) -> list[tuple[str, str]]:
        """The pairs to contrast among ``names`` (sorted, for a deterministic order)."""
        names = sorted(names)
        if self.pairs == "all":
            return list(itertools.combinations(names, 2))
        if self.anchor not in names:
            raise InputError("embeddings", f"the anchor modality '{self.anchor}' among the keys", names)
        return [(self.anchor, m) for m in names if m != self.anchor]

    def weight(self, a: str, b: str) -> float:
        return float(self.weights.get(pair_name(a, b), self.weights.get(pair_name(b, a), 1.0)))

    def forward(self, embeddings: Mapping[str, Tensor], logit_scale: Tensor | None = None) -> ContrastiveOutput:
        if not isinstance(embeddings, Mapping) or len(embeddings) < 2:
            raise InputError("embeddings", "a mapping {modality: [N, D]} with at least two modalities", embeddings)
        sizes = {name: tuple(x.shape) for name, x in embeddings.items()}
        if any(len(s) != 2 for s in sizes.values()) or len({s[0] for s in sizes.values()}) != 1:
            raise InputError("embeddings", "[N, D] tensors with the same N", sizes)
        feats: dict[str, Tensor] = {}
        offset = 0
        for name, x in embeddings.items():
            x = F.normalize(x, dim=-1) if self.normalize else x
            feats[name], offset = gather_features(x) if self.gather else (x, 0)
        scale = self.scale(logit_scale)
        terms: dict[str, Tensor] = {}
        logits: dict[str, Tensor] = {}
        metrics: dict[str, Tensor] = {"scale": scale.detach()}
        total = scale.new_zeros(())
        for a, b in self.pair_list(list(feats)):
            if feats[a].shape[1] != feats[b].shape[1]:
                raise InputError(f"embeddings['{b}']", f"width D={feats[a].shape[1]} as '{a}'", feats[b])
            name = pair_name(a, b)
            terms[name], logits[name] = info_nce(feats[a], feats[b], scale)
            total = total + self.weight(a, b) * terms[name]
            with torch.no_grad():
                target = torch.arange(logits[name].shape[0], device=logits[name].device)
                metrics[f"acc/{a}->{b}"] = (logits[name].argmax(1) == target).float().mean()
                metrics[f"acc/{b}->{a}"] = (logits[name].argmax(0) == target).float().mean()
        return ContrastiveOutput(loss=total, terms=terms, metrics=metrics, logits=logits, scale=scale, offset=offset)
