"""The demo report's figures: confusion matrices, a t-SNE map of the shared space, loss curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_confusion", "plot_tsne", "plot_loss_terms"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(labels: np.ndarray, predicted: np.ndarray, classes: list[str], title: str, out: Path) -> Path:
    """A row-normalised confusion matrix (rows: true digit) with counts in the cells."""
    plt = _plt()
    n = len(classes)
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (labels, predicted), 1)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.imshow(counts / counts.sum(1, keepdims=True).clip(min=1), cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7, color="white" if i == j else "black")
    ax.set_xticks(range(n), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_tsne(points: dict[str, tuple[np.ndarray, np.ndarray]], out: Path, seed: int = 0) -> Path:
    """2-D t-SNE of ``{modality: (embeddings [N, D], labels [N])}``: colour = digit, marker = modality."""
    from sklearn.manifold import TSNE

    plt = _plt()
    names = list(points)
    stacked = np.concatenate([points[n][0] for n in names])
    stacked = stacked / np.linalg.norm(stacked, axis=1, keepdims=True)
    xy = TSNE(n_components=2, init="pca", perplexity=30, random_state=seed, metric="cosine").fit_transform(stacked)
    markers = {"image": "o", "audio": "^", "text": "*"}
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    cmap = plt.get_cmap("tab10")
    start = 0
    for name in names:
        emb, labels = points[name]
        part = xy[start : start + len(emb)]
        start += len(emb)
        size = 140 if name == "text" else 10
        ax.scatter(part[:, 0], part[:, 1], c=[cmap(int(l)) for l in labels], marker=markers.get(name, "x"), s=size,
                   alpha=0.9 if name == "text" else 0.55, edgecolors="black" if name == "text" else "none", linewidths=0.6)
    handles = [plt.Line2D([], [], marker=markers.get(n, "x"), linestyle="", color="gray", label=n) for n in names]
    handles += [plt.Line2D([], [], marker="s", linestyle="", color=cmap(d), label=str(d)) for d in range(10)]
    ax.legend(handles=handles, fontsize=7, ncol=2, loc="best", framealpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("shared space (t-SNE): colour = digit, marker = modality", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_loss_terms(rows: list[dict], out: Path) -> Path | None:
    """Total loss and each InfoNCE term against step."""
    rows = [r for r in rows if r.get("split") == "train"]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for key in [k for k in rows[-1] if k == "loss" or k.startswith("loss/")]:
        ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=key.replace("loss/", ""), lw=2 if key == "loss" else 1)
    ax.set_xlabel("step")
    ax.set_ylabel("InfoNCE")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
