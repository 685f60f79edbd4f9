"""Checks every modality test shares: the Tokens contract, encoder + gradients, padding invariance."""

from __future__ import annotations

import torch

from polymodal.encoder import TransformerEncoder
from polymodal.tokens import Tokens


def tiny_encoder(dim: int, heads: int = 2) -> TransformerEncoder:
    return TransformerEncoder(dim=dim, depth=2, num_heads=heads, mlp_ratio=2.0).eval()


def check_tokens(tokens: Tokens, batch: int, length: int | None, dim: int, modality: str) -> None:
    assert isinstance(tokens, Tokens)
    assert tokens.modality == modality
    assert tokens.embeddings.shape[0] == batch and tokens.embeddings.shape[2] == dim
    if length is not None:
        assert tokens.embeddings.shape[1] == length
    assert torch.isfinite(tokens.embeddings).all()


def check_encoder_gradients(tokenizer: torch.nn.Module, batch, heads: int = 2) -> None:
    """Tokens go through the shared encoder and the loss's gradient reaches every tokenizer parameter."""
    tokens = tokenizer(batch)
    encoder = tiny_encoder(tokens.dim, heads)
    out = encoder(tokens)
    assert torch.isfinite(out.pooled).all()
    (out.pooled.square().sum() + out.hidden.sum()).backward()
    missing = [n for n, p in tokenizer.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not missing, f"no gradient reached {missing}"


def check_padding_invariance(tokenizer: torch.nn.Module, collate, samples, heads: int = 2, atol: float = 1e-5) -> None:
    """Each sample's real tokens and encoder output are the same alone and in a padded batch."""
    tokenizer.eval()
    encoder = tiny_encoder(tokenizer.dim, heads)
    with torch.no_grad():
        joint = tokenizer(collate(samples))
        joint_out = encoder(joint)
        for i, sample in enumerate(samples):
            alone = tokenizer(collate([sample]))
            n = int(alone.mask.sum())
            assert int(joint.mask[i].sum()) == n, "real-token count differs in the batch"
            assert alone.mask[0].all() or not alone.mask[0, n:].any()
            real_joint = joint.embeddings[i][joint.mask[i]]
            real_alone = alone.embeddings[0][alone.mask[0]]
            torch.testing.assert_close(real_joint, real_alone, atol=atol, rtol=1e-4)
            if joint.attention_bias is not None:
                sel = joint.mask[i]
                bj = joint.attention_bias[i][:, sel][:, :, sel]
                sa = alone.mask[0]
                ba = alone.attention_bias[0][:, sa][:, :, sa]
                torch.testing.assert_close(bj, ba, atol=atol, rtol=1e-4)
            alone_out = encoder(alone)
            torch.testing.assert_close(joint_out.pooled[i], alone_out.pooled[0], atol=atol * 10, rtol=1e-4)
