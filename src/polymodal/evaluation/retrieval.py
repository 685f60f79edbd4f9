"""Cross-modal retrieval metrics: Recall@K, median rank and mean average precision.

The protocol of image-text retrieval on Flickr30K/MS-COCO (as CLIP and ALBEF report it):
every query ranks the whole gallery by cosine similarity; Recall@K is the share of
queries with a correct item among the top K, the median rank is the median position of
the first correct item (1 = top). A correct item ("hit") is either the item at the same
index (pairs) or any item sharing the query's label (several per query, as with five
captions per image); with several, mean average precision also counts how high *all* of
them rank.

Ties are broken against the query: a wrong item scoring exactly as high as the best
correct one ranks before it, so a collapsed embedding cannot score well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from polymodal.errors import InputError

__all__ = ["RetrievalResult", "CrossModalRetrieval", "match_matrix", "retrieval_metrics", "cross_modal_retrieval"]


@dataclass
class RetrievalResult:
    """Retrieval figures for one direction (queries → gallery).

    Attributes:
        recall: ``{K: share of queries with a hit in the top K}``.
        median_rank: median 1-based rank of each query's first hit.
        mean_rank: mean of the same ranks.
        mean_average_precision: mean over queries of the average precision of all hits.
        num_queries: how many queries were scored.
    """

    recall: dict[int, float]
    median_rank: float
    mean_rank: float
    mean_average_precision: float
    num_queries: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """Flat figures: ``{prefix}R@1``, …, ``{prefix}median_rank``, ``{prefix}mAP``."""
        out = {f"{prefix}R@{k}": v for k, v in self.recall.items()}
        out[f"{prefix}median_rank"] = self.median_rank
        out[f"{prefix}mean_rank"] = self.mean_rank
        out[f"{prefix}mAP"] = self.mean_average_precision
        return out


@dataclass
class CrossModalRetrieval:
    """Both directions between two embedding sets ``a`` and ``b``."""

    a_to_b: RetrievalResult
    b_to_a: RetrievalResult
    names: tuple[str, str] = ("a", "b")

    def as_dict(self) -> dict[str, float]:
        """Flat figures keyed ``"image->text/R@1"`` and so on."""
        a, b = self.names
        return {**self.a_to_b.as_dict(f"{a}->{b}/"), **self.b_to_a.as_dict(f"{b}->{a}/")}


def match_matrix(
    num_queries: int,
    num_gallery: int,
    *,
    query_labels: Tensor | Sequence | None = None,
    gallery_labels: Tensor | Sequence | None = None,
) -> Tensor:
    """``[Nq, Ng]`` bool hits: equal labels, or (without labels) the same index."""
    if (query_labels is None) != (gallery_labels is None):
        raise InputError("query_labels/gallery_labels", "both or neither", "only one")
    if query_labels is None:
        if num_queries != num_gallery:
            raise InputError("gallery", f"{num_queries} items paired by index with {num_queries} queries", num_gallery)
        return torch.eye(num_queries, dtype=torch.bool)
    ql, gl = torch.as_tensor(query_labels), torch.as_tensor(gallery_labels)
    if ql.shape != (num_queries,) or gl.shape != (num_gallery,):
        raise InputError("labels", f"[{num_queries}] query and [{num_gallery}] gallery labels", (ql.shape, gl.shape))
    return ql[:, None] == gl[None, :]


def _rank_figures(similarity: Tensor, hits: Tensor) -> tuple[Tensor, Tensor]:
    """First-hit ranks ``[Nq]`` and average precisions ``[Nq]`` for a block of queries."""
    neg_inf = torch.finfo(similarity.dtype).min
    best_hit = similarity.masked_fill(~hits, neg_inf).max(dim=1, keepdim=True).values  # [Nq, 1]
    # Pessimistic ties: wrong items scoring >= the best hit rank ahead of it.
    first_rank = ((similarity >= best_hit) & ~hits).sum(dim=1) + 1
    order = similarity.argsort(dim=1, descending=True, stable=True)
    sorted_hits = hits.gather(1, order).float()  # [Nq, Ng] in ranked order
    cum_hits = sorted_hits.cumsum(dim=1)
    positions = torch.arange(1, hits.shape[1] + 1, device=hits.device, dtype=cum_hits.dtype)
    precision_at_hits = (cum_hits / positions) * sorted_hits
    average_precision = precision_at_hits.sum(dim=1) / sorted_hits.sum(dim=1)
    return first_rank, average_precision


@torch.no_grad()
def retrieval_metrics(
    queries: Tensor,
    gallery: Tensor,
    *,
    query_labels: Tensor | Sequence | None = None,
    gallery_labels: Tensor | Sequence | None = None,
    ks: Sequence[int] = (1, 5, 10),
    normalize: bool = True,
    chunk_size: int = 1024,
) -> RetrievalResult:
    """Rank ``gallery [Ng, D]`` for every row of ``queries [Nq, D]`` by cosine similarity.

    Args:
        query_labels, gallery_labels: ``[Nq]`` and ``[Ng]`` labels defining hits (equal
            labels); without them, query ``i`` matches gallery item ``i``.
        ks: the K of Recall@K.
        normalize: L2-normalise both sets first (cosine similarity).
        chunk_size: queries scored at once (bounds memory at ``chunk_size × Ng``).
    """
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise InputError("queries/gallery", "[Nq, D] and [Ng, D] embeddings of the same D", (queries, gallery))
    hits = match_matrix(queries.shape[0], gallery.shape[0], query_labels=query_labels, gallery_labels=gallery_labels)
    hits = hits.to(queries.device)
    missing = (~hits.any(dim=1)).nonzero().flatten()
    if len(missing):
        raise InputError("gallery", "at least one correct item for every query", f"none for queries {missing[:5].tolist()}")
    q, g = queries.float(), gallery.float()
    if normalize:
        q, g = F.normalize(q, dim=-1), F.normalize(g, dim=-1)
    ranks, aps = [], []
    for start in range(0, q.shape[0], chunk_size):
        r, ap = _rank_figures(q[start : start + chunk_size] @ g.T, hits[start : start + chunk_size])
        ranks.append(r)
        aps.append(ap)
    rank, ap = torch.cat(ranks).float(), torch.cat(aps)
    return RetrievalResult(
        recall={int(k): (rank <= k).float().mean().item() for k in ks},
        median_rank=rank.median().item() if len(rank) % 2 else rank.quantile(0.5).item(),
        mean_rank=rank.mean().item(),
        mean_average_precision=ap.mean().item(),
        num_queries=int(rank.numel()),
    )


def cross_modal_retrieval(
    a: Tensor,
    b: Tensor,
    *,
    labels_a: Tensor | Sequence | None = None,
    labels_b: Tensor | Sequence | None = None,
    names: tuple[str, str] = ("a", "b"),
    ks: Sequence[int] = (1, 5, 10),
    normalize: bool = True,
) -> CrossModalRetrieval:
    """:func:`retrieval_metrics` in both directions (``a`` → ``b`` and ``b`` → ``a``).

    Example: ``cross_modal_retrieval(image_emb, text_emb, labels_a=image_ids,
    labels_b=caption_image_ids, names=("image", "text")).as_dict()["image->text/R@1"]``.
    """
    a_to_b = retrieval_metrics(a, b, query_labels=labels_a, gallery_labels=labels_b, ks=ks, normalize=normalize)
    b_to_a = retrieval_metrics(b, a, query_labels=labels_b, gallery_labels=labels_a, ks=ks, normalize=normalize)
    return CrossModalRetrieval(a_to_b, b_to_a, tuple(names))
