"""Matching with hard negatives (image-text matching, ITM), as ALBEF trains it.

Li et al., "Align before Fuse" (ALBEF, 2021, §3.2): a binary head on the joint (fusion)
encoder's pooled output says whether a pair matches. Random negatives are too easy, so
for every sample of one modality a negative of the other is drawn from the in-batch
contrastive similarities with probability ``softmax(similarity)`` — similar but wrong
pairs are drawn most — never the positive itself (the diagonal, or any pair sharing an
id when the batch holds several captions of one image).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.errors import InputError
from polymodal.objectives.base import OBJECTIVES, ObjectiveOutput
from polymodal.tokens import Tokens

__all__ = ["sample_hard_negatives", "MatchingLoss", "MatchingOutput"]


@torch.no_grad()
def sample_hard_negatives(
    similarity: Tensor,
    *,
    row_ids: Tensor | None = None,
    column_ids: Tensor | None = None,
    offset: int = 0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """For each row, a column drawn with probability ``softmax(similarity[row])`` over non-positives.

    Args:
        similarity: ``[B, M]`` scores of rows against candidate columns (e.g. the
            contrastive logits; their temperature sets how hard the negatives are).
        row_ids, column_ids: ``[B]`` and ``[M]`` sample ids; a column with its row's id is
            a positive and never drawn. Without ids the positive of row ``i`` is column
            ``i + offset`` (``offset`` = this rank's first row in gathered columns).
        generator: for reproducible draws.

    Returns:
        ``[B]`` long column indices, none of them a positive.
    """
    if similarity.ndim != 2:
        raise InputError("similarity", "a [B, M] score matrix", similarity)
    b, m = similarity.shape
    if (row_ids is None) != (column_ids is None):
        raise InputError("row_ids/column_ids", "both or neither", (row_ids is None, column_ids is None))
    if row_ids is not None:
        positive = row_ids[:, None] == column_ids[None, :]  # [B, M]
    else:
        if offset + b > m:
            raise InputError("similarity", f"at least offset + B = {offset + b} columns", similarity)
        positive = torch.zeros(b, m, dtype=torch.bool, device=similarity.device)
        positive[torch.arange(b), torch.arange(b) + offset] = True
    if bool(positive.all(dim=1).any()):
        raise InputError("similarity", "at least one negative column for every row", "a row with only positives")
    # Masked softmax: the best valid column has weight exp(0) = 1, so a row never sums to 0.
    probs = similarity.float().masked_fill(positive, float("-inf")).softmax(dim=1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@dataclass
class MatchingOutput(ObjectiveOutput):
    """Adds the drawn negatives and the head's logits.

    Attributes:
        negatives_for_a: ``[B]`` index of the ``b`` sample paired with each ``a`` as a negative.
        negatives_for_b: ``[B]`` index of the ``a`` sample paired with each ``b``.
        logits: ``[3B, 2]`` match logits of (positives, a-with-negative-b, negative-a-with-b).
    """

    negatives_for_a: Tensor | None = None
    negatives_for_b: Tensor | None = None
    logits: Tensor | None = field(default=None, repr=False)


@OBJECTIVES.register("matching")
class MatchingLoss(Configurable, nn.Module):
    """ALBEF's ITM: a binary head on the joint encoder, positives plus hard negatives.

    The loss owns only the binary head; the joint encoder belongs to the model and is
    passed in at each call, so its parameters are not registered twice.

    Args:
        dim: D, the width of the joint encoder's pooled output.
        generator: for reproducible negative draws.

    Inputs:
        joint: ``joint(a: Tokens, b: Tokens) -> [B', D]`` pooled output of the fusion encoder.
        a, b: :class:`Tokens` of ``B`` paired samples of two modalities.
        similarity: ``[B, B]`` contrastive similarities of ``a`` (rows) against ``b``
            (columns), e.g. ``ContrastiveOutput.logits["a-b"]`` (local block under DDP).
        ids: optional ``[B]`` sample ids (pairs sharing an id are all positives).

    Returns:
        :class:`MatchingOutput`: cross-entropy over ``B`` positives and ``2B`` negatives
        (term ``itm``), metric ``accuracy``.
    """

    def __init__(self, dim: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.head = nn.Linear(dim, 2)
        self.generator = generator

    def forward(
        self,
        joint: Callable[[Tokens, Tokens], Tensor],
        a: Tokens,
        b: Tokens,
        similarity: Tensor,
        ids: Tensor | None = None,
    ) -> MatchingOutput:
        n = a.batch_size
        if b.batch_size != n or tuple(similarity.shape) != (n, n):
            raise InputError("similarity", f"a [{n}, {n}] matrix for {n} pairs", similarity)
        if n < 2:
            raise InputError("a", "a batch of at least 2 pairs (negatives come from the batch)", n)
        sim = similarity.detach()
        neg_b = sample_hard_negatives(sim, row_ids=ids, column_ids=ids, generator=self.generator)
        neg_a = sample_hard_negatives(sim.T, row_ids=ids, column_ids=ids, generator=self.generator)
        same = torch.arange(n, device=sim.device)
        a_index = torch.cat([same, same, neg_a])  # positives, a + hard b, hard a + b
        b_index = torch.cat([same, neg_b, same])
        pooled = joint(a.select(a_index), b.select(b_index))  # [3B, D]
        logits = self.head(pooled)
        labels = torch.cat([torch.ones(n), torch.zeros(2 * n)]).long().to(logits.device)
        loss = F.cross_entropy(logits, labels)
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == labels).float().mean()
        return MatchingOutput(
            loss=loss,
            terms={"itm": loss},
            metrics={"accuracy": accuracy},
            negatives_for_a=neg_b,
            negatives_for_b=neg_a,
            logits=logits,
        )
