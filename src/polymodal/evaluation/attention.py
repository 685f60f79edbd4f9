"""Reading attention maps: rollout through an encoder and cross-attention heat maps.

Attention rollout (Abnar & Zuidema, ACL 2020, "Quantifying Attention Flow in Transformers"):
with residual connections a layer's effective token mixing is ``0.5·A + 0.5·I``; averaging
heads and multiplying these matrices layer by layer estimates how much each output token
draws on each input token. ``plot_cross_attention`` shows, e.g., which image patches a word
attends to in a cross-attention fusion.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from polymodal._optional import require
from polymodal.errors import InputError

__all__ = ["attention_rollout", "plot_cross_attention"]


def attention_rollout(
    attentions: Sequence[Tensor],
    *,
    head_fusion: Literal["mean", "max", "min"] = "mean",
    residual: bool = True,
) -> Tensor:
    """Roll attention out through a stack of self-attention layers.

    Args:
        attentions: one ``[B, H, N, N]`` map per layer, first layer first (as
            ``EncoderOutput.attentions`` or ``FusionOutput.attentions["fused"]`` give them).
        head_fusion: how heads are merged (the paper averages them).
        residual: add the identity for the residual path (``0.5·A + 0.5·I``) and renormalise rows.

    Returns:
        ``[B, N, N]``: row ``i`` is how much output token ``i`` draws on each input token; rows
        sum to 1 (a fully masked query row, whose attention is all zero, keeps only itself).
    """
    if len(attentions) == 0:
        raise InputError("attentions", "at least one [B, H, N, N] map", "none")
    result = None
    for layer, a in enumerate(attentions):
        if a is None or a.ndim != 4 or a.shape[-1] != a.shape[-2]:
            raise InputError(f"attentions[{layer}]", "a square [B, H, N, N] self-attention map", a)
        fused = {"mean": lambda t: t.mean(1), "max": lambda t: t.amax(1), "min": lambda t: t.amin(1)}[head_fusion](a)
        if residual:
            eye = torch.eye(fused.shape[-1], device=fused.device, dtype=fused.dtype)
            fused = 0.5 * fused + 0.5 * eye
            fused = fused / fused.sum(-1, keepdim=True).clamp_min(1e-12)
        result = fused if result is None else fused @ result  # later layers act on earlier mixtures
    return result


def plot_cross_attention(
    weights: Tensor,
    path: str | Path,
    *,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    key_grid: tuple[int, int] | None = None,
    queries: Sequence[int] | None = None,
    title: str | None = None,
) -> Path:
    """Write a PNG of a cross-attention map with matplotlib; returns the path.

    Args:
        weights: ``[N_q, N_k]``, ``[H, N_q, N_k]`` (heads averaged) or ``[B, H, N_q, N_k]``
            (first sample) — e.g. ``FusionOutput.attentions["cross:text"][layer]``.
        path: the PNG to write (parent folders are created).
        query_labels / key_labels: tick labels (e.g. words; patch indices).
        key_grid: ``(rows, cols)`` with ``rows · cols = N_k`` to draw each query's attention
            over the keys as an image grid (which image patches a word attends to).
        queries: which query rows to draw with ``key_grid`` (default: up to the first 8).
        title: figure title.
    """
    matplotlib = require("matplotlib", "plots")
    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    w = weights.detach().float().cpu()
    if w.ndim == 4:
        w = w[0]
    if w.ndim == 3:
        w = w.mean(0)
    if w.ndim != 2:
        raise InputError("weights", "a [N_q, N_k], [H, N_q, N_k] or [B, H, N_q, N_k] map", weights)
    n_q, n_k = w.shape
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if key_grid is None:
        # Wide enough for the title, tall enough for the tick labels.
        width = max(4.0, n_k * 0.25 + 2, 0.075 * len(title or ""))
        fig, ax = plt.subplots(figsize=(width, max(3, n_q * 0.25 + 1.5) + (1.0 if key_labels is not None else 0.0)))
        im = ax.imshow(w.numpy(), aspect="auto", cmap="viridis")
        ax.set_xlabel("key (context token)")
        ax.set_ylabel("query token")
        if query_labels is not None:
            ax.set_yticks(range(n_q), list(query_labels))
        if key_labels is not None:
            ax.set_xticks(range(n_k), list(key_labels), rotation=90)
        fig.colorbar(im, ax=ax)
    else:
        rows, cols = key_grid
        if rows * cols != n_k:
            raise InputError("key_grid", f"(rows, cols) with rows·cols = N_k = {n_k}", key_grid)
        chosen = list(queries) if queries is not None else list(range(min(n_q, 8)))
        width = max(2.2 * len(chosen), 0.075 * len(title or ""))
        fig, axes = plt.subplots(1, len(chosen), figsize=(width, 2.6), squeeze=False)
        for ax, q in zip(axes[0], chosen):
            ax.imshow(w[q].reshape(rows, cols).numpy(), cmap="magma")
            ax.set_title(query_labels[q] if query_labels is not None else f"query {q}", fontsize=9)
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
