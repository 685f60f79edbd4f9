"""Masked language modelling with BERT's 80/10/10 corruption.

Devlin et al., "BERT" (2019, §3.1): 15 % of the tokens are chosen for prediction; of those,
80 % become ``[MASK]``, 10 % a random token and 10 % stay unchanged, so that the encoder
cannot learn that only ``[MASK]`` positions matter. Special tokens (``[CLS]``, ``[SEP]``)
and padding are never chosen. The loss is cross-entropy on the chosen positions only;
every other label is ``-100``, which ``cross_entropy`` ignores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.errors import ConfigError, InputError
from polymodal.objectives.base import OBJECTIVES, ObjectiveOutput

__all__ = ["IGNORE_INDEX", "MaskedTokens", "mask_tokens", "MLMLoss"]

#: Label of positions that carry no loss (``F.cross_entropy``'s default ``ignore_index``).
IGNORE_INDEX = -100


@dataclass
class MaskedTokens:
    """The corrupted input and its labels.

    Attributes:
        input_ids: ``[B, N]`` corrupted ids to feed the encoder.
        labels: ``[B, N]`` original ids at chosen positions, ``-100`` elsewhere.
        chosen: ``[B, N]`` bool, the positions chosen for prediction.
    """

    input_ids: Tensor
    labels: Tensor
    chosen: Tensor


def mask_tokens(
    input_ids: Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    special_ids: Sequence[int] = (),
    attention_mask: Tensor | None = None,
    mask_prob: float = 0.15,
    mask_frac: float = 0.8,
    random_frac: float = 0.1,
    generator: torch.Generator | None = None,
) -> MaskedTokens:
    """Choose ``mask_prob`` of the real, non-special tokens and corrupt them 80/10/10.

    Args:
        input_ids: ``[B, N]`` long token ids.
        mask_token_id: the ``[MASK]`` id.
        vocab_size: random replacements are drawn uniformly from the non-special ids below it.
        special_ids: ids never chosen (``[CLS]``, ``[SEP]``, ``[PAD]``, ``[MASK]``...).
        attention_mask: ``[B, N]`` (True/1 = real token); padding is never chosen.
        mask_prob: probability that an eligible token is chosen (BERT: 0.15).
        mask_frac, random_frac: of the chosen, the share replaced by ``[MASK]`` and by a
            random token; the rest stay unchanged.
        generator: for reproducible masks.
    """
    if input_ids.ndim != 2 or input_ids.dtype != torch.long:
        raise InputError("input_ids", "a long tensor [B, N]", input_ids)
    if not (0.0 <= mask_prob <= 1.0) or mask_frac < 0 or random_frac < 0 or mask_frac + random_frac > 1.0:
        raise ConfigError("mlm", "0 <= mask_prob <= 1 and mask_frac + random_frac <= 1", (mask_prob, mask_frac, random_frac))
    device = input_ids.device
    special = torch.tensor(sorted(set(special_ids) | {mask_token_id}), dtype=torch.long, device=device)
    eligible = ~torch.isin(input_ids, special)
    if attention_mask is not None:
        eligible &= attention_mask.bool()

    def uniform() -> Tensor:
        return torch.rand(input_ids.shape, generator=generator, device=device)

    chosen = eligible & (uniform() < mask_prob)
    # One draw decides the fate of each chosen token: [0, 0.8) mask, [0.8, 0.9) random, rest kept.
    fate = uniform()
    to_mask = chosen & (fate < mask_frac)
    to_random = chosen & (fate >= mask_frac) & (fate < mask_frac + random_frac)
    # Random replacements avoid special ids so they never look like [CLS] or padding.
    allowed = torch.ones(vocab_size, dtype=torch.bool, device=device)
    allowed[special[special < vocab_size]] = False
    pool = allowed.nonzero().squeeze(1)
    picks = torch.randint(len(pool), input_ids.shape, generator=generator, device=device)
    corrupted = input_ids.masked_fill(to_mask, mask_token_id)
    corrupted = torch.where(to_random, pool[picks], corrupted)
    labels = input_ids.masked_fill(~chosen, IGNORE_INDEX)
    return MaskedTokens(corrupted, labels, chosen)


@OBJECTIVES.register("mlm")
class MLMLoss(Configurable, nn.Module):
    """Cross-entropy on the chosen positions (labels ``-100`` elsewhere).

    Inputs:
        logits: ``[B, N, V]`` from :class:`~polymodal.heads.MLMHead`.
        labels: ``[B, N]`` from :func:`mask_tokens`.

    Returns:
        :class:`ObjectiveOutput` with term ``mlm`` and metrics ``accuracy`` (on chosen
        positions) and ``num_masked``.
    """

    def forward(self, logits: Tensor, labels: Tensor) -> ObjectiveOutput:
        if logits.ndim != 3 or tuple(logits.shape[:2]) != tuple(labels.shape):
            raise InputError("logits", f"[B, N, V] logits matching labels {list(labels.shape)}", logits)
        chosen = labels != IGNORE_INDEX
        if bool(chosen.any()):
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
        else:
            # Nothing was chosen (a short batch): a zero that still carries the graph.
            loss = logits.sum() * 0.0
        with torch.no_grad():
            correct = (logits.argmax(-1) == labels) & chosen
            accuracy = correct.sum() / chosen.sum().clamp_min(1)
        return ObjectiveOutput(
            loss=loss, terms={"mlm": loss}, metrics={"accuracy": accuracy, "num_masked": chosen.sum().float()}
        )
