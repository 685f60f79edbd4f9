"""``Tokens``: the one currency between polymodal's stages.

A tokenizer returns Tokens; the encoder, every fusion strategy and the heads take them.
The padding mask travels with the embeddings so that padding never leaks into attention,
pooling or losses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from polymodal.errors import InputError

__all__ = ["Tokens", "masked_mean"]



def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x [B, N, D]`` over the positions where ``mask [B, N]`` is True; a row with
    none gives zeros, not NaN. The one masked mean: pooling, fusion and losses use it."""
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)

@dataclass(frozen=True)
class Tokens:
    """A batch of token sequences of one modality.

    Attributes:
        embeddings: ``[B, N, D]`` float token embeddings.
        mask: ``[B, N]`` bool, ``True`` where a token is real, ``False`` for padding.
            A row that is all ``False`` is a sample whose modality is missing.
        modality: the modality's registry name (``"text"``, ``"image"``, ...).
        attention_bias: optional additive attention bias ``[B, H or 1, N, N]`` (float),
            e.g. Graphormer's shortest-path encoding; added to the attention logits of
            every layer together with the padding mask.
        no_padding: ``True`` when every token is known to be real (``mask`` all ``True``)
            without reading the mask. The encoder then drops the padding mask unread,
            which saves a device sync per forward and keeps a ``torch.compile``d forward
            in one graph. :meth:`dense` and :meth:`from_list` set it; ``False`` means
            "not known", never "padded".
    """

    embeddings: Tensor
    mask: Tensor
    modality: str
    attention_bias: Tensor | None = None
    no_padding: bool = False

    def __post_init__(self) -> None:
        emb, mask = self.embeddings, self.mask
        if not isinstance(emb, Tensor) or emb.ndim != 3 or not emb.is_floating_point():
            raise InputError("Tokens.embeddings", "a float tensor [B, N, D]", emb)
        if not isinstance(mask, Tensor) or tuple(mask.shape) != tuple(emb.shape[:2]):
            raise InputError("Tokens.mask", f"a tensor of shape {list(emb.shape[:2])} (= embeddings [B, N])", mask)
        if mask.dtype != torch.bool:
            raise InputError("Tokens.mask", "dtype torch.bool (True = real token)", str(mask.dtype))
        bias = self.attention_bias
        if bias is not None:
            b, n = emb.shape[:2]
            if (
                not isinstance(bias, Tensor)
                or bias.ndim != 4
                or bias.shape[0] != b
                or tuple(bias.shape[2:]) != (n, n)
                or not bias.is_floating_point()
            ):
                raise InputError("Tokens.attention_bias", f"a float tensor [{b}, H or 1, {n}, {n}]", bias)

    # --- shape helpers -------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self.embeddings.shape[0]

    @property
    def length(self) -> int:
        return self.embeddings.shape[1]

    @property
    def dim(self) -> int:
        return self.embeddings.shape[2]

    @property
    def lengths(self) -> Tensor:
        """``[B]`` number of real tokens per sample."""
        return self.mask.sum(dim=1)

    @property
    def present(self) -> Tensor:
        """``[B]`` bool, ``True`` for samples with at least one real token."""
        return self.mask.any(dim=1)

    # --- constructors and conversions ------------------------------------------------
    @classmethod
    def from_list(cls, sequences: Sequence[Tensor], modality: str) -> Tokens:
        """Pad a list of ``[N_i, D]`` sequences to ``[B, max N_i, D]`` with a mask."""
        if len(sequences) == 0:
            raise InputError("sequences", "at least one [N, D] tensor", "an empty list")
        dims = {s.shape[-1] for s in sequences}
        if len(dims) != 1 or any(s.ndim != 2 for s in sequences):
            raise InputError("sequences", "[N_i, D] tensors sharing D", [tuple(s.shape) for s in sequences])
        n_max = max(s.shape[0] for s in sequences)
        first = sequences[0]
        emb = first.new_zeros(len(sequences), n_max, first.shape[1])
        mask = torch.zeros(len(sequences), n_max, dtype=torch.bool, device=first.device)
        for i, s in enumerate(sequences):
            emb[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = True
        return cls(emb, mask, modality, no_padding=all(s.shape[0] == n_max for s in sequences))

    @classmethod
    def dense(cls, embeddings: Tensor, modality: str) -> Tokens:
        """Tokens with no padding: every position of ``embeddings [B, N, D]`` is real."""
        if not isinstance(embeddings, Tensor) or embeddings.ndim != 3:
            raise InputError("embeddings", "a float tensor [B, N, D]", embeddings)
        mask = torch.ones(embeddings.shape[:2], dtype=torch.bool, device=embeddings.device)
        return cls(embeddings, mask, modality, no_padding=True)

    def replace(self, **changes: object) -> Tokens:
        """A copy with some fields changed (validated again); a new mask is not known unpadded."""
        if "mask" in changes:
            changes.setdefault("no_padding", False)
        return replace(self, **changes)

    def to(self, *args: object, **kwargs: object) -> Tokens:
        """Move to a device and/or cast the float tensors (the mask stays bool)."""
        emb = self.embeddings.to(*args, **kwargs)
        bias = None if self.attention_bias is None else self.attention_bias.to(*args, **kwargs)
        return Tokens(emb, self.mask.to(emb.device), self.modality, bias, self.no_padding)

    def select(self, index: Tensor) -> Tokens:
        """The samples at ``index`` (a ``[B']`` long or ``[B]`` bool tensor)."""
        bias = None if self.attention_bias is None else self.attention_bias[index]
        return Tokens(self.embeddings[index], self.mask[index], self.modality, bias, self.no_padding)

    def scatter(self, present: Tensor) -> Tokens:
        """These ``B'`` samples placed at the ``True`` rows of ``present [B]`` (bool, ``B'``
        of them ``True``), in order; the other rows are missing: zero embeddings, all
        padding. ``[B', N, D] -> [B, N, D]``; gradients flow back to the ``B'`` rows."""
        if not isinstance(present, Tensor) or present.dtype != torch.bool or present.ndim != 1:
            raise InputError("present", "a [B] bool tensor", present)
        present = present.to(self.embeddings.device)
        if not torch.compiler.is_compiling() and int(present.sum()) != self.batch_size:
            raise InputError("present", f"{self.batch_size} True rows (one per sample of the Tokens)", f"{int(present.sum())}")
        # Row i gathers sample (True rows up to i) - 1, then absent rows are blanked: no shape
        # depends on the values (as with nonzero()), so a compiled graph stays whole.
        source = (present.long().cumsum(0) - 1).clamp_min(0)
        keep = present[:, None]
        emb = self.embeddings.index_select(0, source) * keep[..., None].to(self.embeddings.dtype)
        mask = self.mask.index_select(0, source) & keep
        bias = None
        if self.attention_bias is not None:
            bias = self.attention_bias.index_select(0, source) * keep[..., None, None].to(self.attention_bias.dtype)
        return Tokens(emb, mask, self.modality, bias)

    def masked_fill_padding(self, value: float = 0.0) -> Tokens:
        """Embeddings with every padding position set to ``value`` (mask unchanged)."""
        emb = self.embeddings.masked_fill(~self.mask.unsqueeze(-1), value)
        return self.replace(embeddings=emb)

    def mean(self) -> Tensor:
        """``[B, D]`` mean over real tokens; an all-padding row gives zeros, not NaN."""
        return masked_mean(self.embeddings, self.mask)

    def __repr__(self) -> str:
        bias = "" if self.attention_bias is None else f", attention_bias={list(self.attention_bias.shape)}"
        return (
            f"Tokens(modality={self.modality!r}, embeddings={list(self.embeddings.shape)}, "
            f"real={self.mask.sum().item()}/{self.mask.numel()}{bias})"
        )
