"""Masked patch modelling (MAE) for any patch-tokenised modality.

He et al., "Masked Autoencoders Are Scalable Vision Learners" (MAE, 2022): shuffle each
sample's patch tokens with its own random noise, keep the first ``(1 - ratio)·N`` —
the encoder sees only those (the cost saving of MAE), then a light decoder receives the
encoded visible tokens plus a shared learned mask token at every hidden position, each
with its position embedding, and reconstructs the patch values. Targets are each
patch's values normalised by their own mean and variance (MAE's ``norm_pix_loss``), and
the loss is the mean squared error on the hidden patches only.

The tokens must already carry their positions (polymodal's tokenizers add them): once
shuffled, an index-based position added by the encoder would be wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.encoder.block import Block
from polymodal.encoder.positions import LearnedPositions
from polymodal.errors import ConfigError, InputError
from polymodal.heads.patch_reconstruction import PatchReconstructionHead
from polymodal.objectives.base import OBJECTIVES, ObjectiveOutput
from polymodal.tokens import Tokens

__all__ = ["patchify", "random_masking", "Masking", "MaskedPatchModelling", "MaskedPatchOutput"]


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """``[B, C, H, W] -> [B, (H/p)(W/p), p·p·C]`` row-major patches, values ordered (p, p, C) as MAE."""
    if images.ndim != 4 or images.shape[2] % patch_size or images.shape[3] % patch_size:
        raise InputError("images", f"[B, C, H, W] with H and W divisible by {patch_size}", images)
    b, c, h, w = images.shape
    p = patch_size
    x = images.reshape(b, c, h // p, p, w // p, p)
    return torch.einsum("bchpwq->bhwpqc", x).reshape(b, (h // p) * (w // p), p * p * c)


@dataclass
class Masking:
    """One random masking of a batch of token sequences.

    Attributes:
        visible: the kept tokens, ``[B, K, D]`` in shuffled order (mask: which are real).
        hidden: ``[B, N]`` bool, True where a token was hidden from the encoder.
        ids_keep: ``[B, K]`` original positions of the visible tokens.
        ids_restore: ``[B, N]`` index that un-shuffles ``[visible, mask tokens]`` to the original order.
    """

    visible: Tokens
    hidden: Tensor
    ids_keep: Tensor
    ids_restore: Tensor


def random_masking(tokens: Tokens, ratio: float, *, generator: torch.Generator | None = None) -> Masking:
    """Keep a random ``1 - ratio`` of each sample's tokens (per-sample shuffle, MAE).

    Padding is sorted after every real token, so it is kept only when a sample has fewer
    than ``K`` real tokens, and it stays masked out there.
    """
    if not 0.0 <= ratio < 1.0:
        raise ConfigError("masked_patch.mask_ratio", "a ratio in [0, 1)", repr(ratio))
    b, n, d = tokens.embeddings.shape
    keep = max(1, int(n * (1.0 - ratio)))
    noise = torch.rand(b, n, generator=generator, device=tokens.embeddings.device)
    noise = noise.masked_fill(~tokens.mask, 2.0)  # above any uniform draw: padding goes last
    ids_shuffle = noise.argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    ids_keep = ids_shuffle[:, :keep]  # [B, K]
    visible_emb = tokens.embeddings.gather(1, ids_keep[..., None].expand(-1, -1, d))
    visible_mask = tokens.mask.gather(1, ids_keep)
    hidden = torch.ones(b, n, dtype=torch.bool, device=noise.device)
    hidden.scatter_(1, ids_keep, False)
    return Masking(Tokens(visible_emb, visible_mask, tokens.modality), hidden, ids_keep, ids_restore)


def normalize_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """Each patch's values standardised by its own mean and variance (MAE's ``norm_pix_loss``)."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True, unbiased=False)
    return (patches - mean) / (var + eps).sqrt()


@dataclass
class MaskedPatchOutput(ObjectiveOutput):
    """Adds ``prediction [B, N, P]`` (in normalised units when ``norm_targets``) and ``hidden [B, N]``."""

    prediction: Tensor | None = field(default=None, repr=False)
    hidden: Tensor | None = None


@OBJECTIVES.register("masked_patch")
class MaskedPatchModelling(Configurable, nn.Module):
    """MAE: encode visible tokens, decode every position, score the hidden ones.

    Args:
        encoder: ``encoder(Tokens) -> EncoderOutput`` (``hidden [B, 1+K or K, D]``), e.g.
            :class:`~polymodal.encoder.TransformerEncoder` with ``positions="none"``.
        num_patches: N, the length of the full sequences (decoder positions).
        patch_dim: P, values per patch.
        mask_ratio: share of tokens hidden from the encoder (MAE images: 0.75).
        decoder_dim, decoder_depth, decoder_heads: the light decoder (MAE: 512, 8, 16).
        norm_targets: reconstruct per-patch normalised values.
        generator: for reproducible masks.

    Inputs:
        tokens: :class:`Tokens` ``[B, N, D]`` with positions already added.
        patches: ``[B, N, P]`` raw patch values (e.g. :func:`patchify` of the images).

    Returns:
        :class:`MaskedPatchOutput`, term ``reconstruction`` and metric ``mask_ratio``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        num_patches: int,
        patch_dim: int,
        *,
        mask_ratio: float = 0.75,
        decoder_dim: int = 128,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        norm_targets: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if getattr(encoder, "pos_embed", None) is not None:
            raise ConfigError("encoder.positions", "'none' (tokens carry their positions before masking)", "set")
        enc_dim = encoder.config.dim if hasattr(encoder, "config") else encoder.dim
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.norm_targets = norm_targets
        self.generator = generator
        self.num_patches = num_patches
        self.decoder_embed = nn.Linear(enc_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.decoder_pos = LearnedPositions(num_patches, decoder_dim, interpolate=False)
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_dim, decoder_heads, 4 * decoder_dim) for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.head = PatchReconstructionHead(decoder_dim, patch_dim)

    def forward(self, tokens: Tokens, patches: Tensor) -> MaskedPatchOutput:
        b, n, _ = tokens.embeddings.shape
        if n != self.num_patches or patches.shape[:2] != (b, n) or patches.shape[2] != self.head.patch_dim:
            raise InputError("patches", f"[{b}, {self.num_patches}, {self.head.patch_dim}] patch values", patches)
        masking = random_masking(tokens, self.mask_ratio, generator=self.generator)
        encoded = self.encoder(masking.visible)
        keep = masking.ids_keep.shape[1]
        extra = encoded.hidden.shape[1] - keep  # a CLS token, if the encoder adds one
        x = self.decoder_embed(encoded.hidden)
        body, head_tokens = x[:, extra:], x[:, :extra]
        filler = self.mask_token.expand(b, n - keep, -1).to(x.dtype)
        full = torch.cat([body, filler], dim=1)  # [B, N, dd] in shuffled order
        full = full.gather(1, masking.ids_restore[..., None].expand(-1, -1, full.shape[-1]))  # original order
        full = full + self.decoder_pos(n).to(full.dtype)
        seq = torch.cat([head_tokens, full], dim=1)
        key_mask = torch.cat([encoded.mask[:, :extra], tokens.mask], dim=1)
        key_mask = None if bool(key_mask.all()) else key_mask
        for block in self.decoder_blocks:
            seq, _, _ = block(seq, key_mask)
        prediction = self.head(self.decoder_norm(seq[:, extra:]))  # [B, N, P]
        target = normalize_patches(patches) if self.norm_targets else patches
        per_patch = (prediction - target.to(prediction.dtype)).square().mean(dim=-1)  # [B, N]
        scored = masking.hidden & tokens.mask
        loss = (per_patch * scored).sum() / scored.sum().clamp_min(1)
        return MaskedPatchOutput(
            loss=loss,
            terms={"reconstruction": loss},
            metrics={"mask_ratio": scored.float().sum() / tokens.mask.sum().clamp_min(1)},
            prediction=prediction,
            hidden=masking.hidden,
        )
