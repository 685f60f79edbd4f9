"""Graphs: ``.npz`` (``edge_index [2, E]``, ``x [N, F]``), edge lists and networkx graphs → Graphormer node tokens.

Ying et al. (2021), "Do Transformers Really Perform Bad for Graph Representation?": each
node is a token (its features projected, plus a learned **centrality** embedding of its
in- and out-degree), and attention between nodes i, j gets a learned per-head bias of
their **shortest-path distance**, passed to the encoder as ``Tokens.attention_bias``.
Degrees and distances are not learnable, so the transform computes them (BFS via scipy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import InitVar, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.configurable import Configurable
from polymodal.errors import InputError
from polymodal.modalities._augment import check_probability
from polymodal.modalities import limits
from polymodal.modalities._common import lengths_to_mask, require_file
from polymodal.modalities.base import MODALITIES, TOKENIZERS, Batch, Modality, Tokenizer
from polymodal.tokens import Tokens

__all__ = ["GraphAugment", "GraphData", "hop_distances", "read_graph", "from_networkx", "GraphTransform", "GraphSample", "GraphBatch", "collate_graphs", "GraphormerTokenizer"]


@dataclass(frozen=True)
class GraphData:
    """``x [N, F]`` node features, ``edge_index [2, E]`` (source, target) and the node count."""

    x: np.ndarray
    edge_index: np.ndarray
    source: str = "<graph>"

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])


def _validate(x: np.ndarray, edge_index: np.ndarray, source: str) -> GraphData:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise InputError(f"{source}: x", "real node features", f"dtype {x.dtype}")
    if x.size and np.isfinite(x).all() and np.abs(x).max() > np.finfo(np.float32).max:
        raise InputError(f"{source}: x", "node features within float32's range", f"values up to {np.abs(x).max():.3g}")
    x = x.astype(np.float32)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"{source}: x", "node features [N, F] with N > 0", x)
    limits.check(source, "graph_nodes", x.shape[0], "nodes")
    if not np.isfinite(x).all():
        raise InputError(f"{source}: x", "finite node features", "NaN or inf values")
    edge_index = np.asarray(edge_index)
    if edge_index.ndim == 2 and edge_index.shape[0] == 2:
        limits.check(source, "graph_edges", edge_index.shape[1], "edges")
    if edge_index.size == 0:
        edge_index = np.zeros((2, 0), dtype=np.int64)
    if edge_index.ndim != 2 or edge_index.shape[0] != 2 or not np.issubdtype(edge_index.dtype, np.integer):
        raise InputError(f"{source}: edge_index", "an integer array [2, E]", edge_index)
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= x.shape[0]):
        raise InputError(f"{source}: edge_index", f"node ids in [0, {x.shape[0] - 1}] (N = {x.shape[0]})", f"ids up to {int(edge_index.max())}")
    return GraphData(x, edge_index.astype(np.int64), source)


def _num_nodes(value: np.ndarray, source: str) -> int:
    value = np.asarray(value)
    if value.ndim != 0 or not np.issubdtype(value.dtype, np.integer) or int(value) < 1:
        raise InputError(f"{source}: num_nodes", "one positive integer", value if value.ndim else value.item())
    limits.check(source, "graph_nodes", int(value), "nodes")
    return int(value)


def read_graph(path: str | Path) -> GraphData:
    """``.npz`` with ``edge_index [2, E]`` (or ``edges [E, 2]``) and optional ``x [N, F]``
    (or ``num_nodes``); or an edge list (``.edgelist``/``.edges``/``.txt``: one ``u v`` per line).
    Without features every node gets the feature 1.

    An edge list names its nodes by labels, as networkx reads it: the distinct labels, in
    increasing order, become nodes ``0..N-1``, so a 10-byte file naming node 1,000,000
    holds two nodes, not a million. A graph with no node (no edge, no ``x``, no
    ``num_nodes``) is refused rather than turned into one node.
    """
    source, suffix = str(path), Path(path).suffix.lower()
    require_file(path)
    if suffix == ".npz":
        from polymodal.modalities._common import load_numpy

        names = _npz_names(path)
        arrays = {k: load_numpy(path, k) for k in names if k in ("edge_index", "edges", "x", "num_nodes")}
        if "edge_index" in arrays:
            edge_index = arrays["edge_index"]
        elif "edges" in arrays:
            edges = np.asarray(arrays["edges"])
            if edges.ndim != 2 or edges.shape[1] != 2:
                raise InputError(f"{source}: edges", "an integer array [E, 2]", edges)
            edge_index = edges.T
        else:
            raise InputError(source, "an array 'edge_index' [2, E] or 'edges' [E, 2]", sorted(names))
        edge_index = np.asarray(edge_index)
        if edge_index.size and (edge_index.ndim != 2 or not np.issubdtype(edge_index.dtype, np.integer)):
            raise InputError(f"{source}: edge_index", "an integer array [2, E]", edge_index)
        if "x" in arrays:
            x = arrays["x"]
        else:
            if "num_nodes" in arrays:
                n = _num_nodes(arrays["num_nodes"], source)
            elif edge_index.size:
                if edge_index.min() < 0:
                    raise InputError(f"{source}: edge_index", "non-negative node ids", f"ids down to {int(edge_index.min())}")
                n = int(edge_index.max()) + 1
                limits.check(source, "graph_nodes", n, "nodes (the largest node id + 1)")
            else:
                raise InputError(source, "a graph with at least one node ('x', 'num_nodes' or an edge)", "no node")
            x = np.ones((n, 1), dtype=np.float32)
        return _validate(x, edge_index, source)
    if suffix in (".edgelist", ".edges", ".txt"):
        from polymodal.modalities._common import read_bytes_limited

        text = read_bytes_limited(path, "an edge list").decode("utf-8", errors="replace")
        pairs = []
        for number, line in enumerate(text.splitlines(), start=1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            try:
                pairs.append((int(words[0]), int(words[1])))
            except (ValueError, IndexError):
                raise InputError(f"{source}:{number}", "a line of two integer node labels 'u v'", line.strip()[:40]) from None
            limits.check(source, "graph_edges", len(pairs), "edges")
        if not pairs:
            raise InputError(source, "an edge list with at least one edge 'u v'", "no edge")
        labels, index = np.unique(np.asarray(pairs, dtype=object).astype(str if any(abs(v) > 2**62 for p in pairs for v in p) else np.int64), return_inverse=True)
        limits.check(source, "graph_nodes", len(labels), "distinct node labels")
        return _validate(np.ones((len(labels), 1), dtype=np.float32), index.reshape(-1, 2).T.astype(np.int64), source)
    raise InputError(source, "a .npz or edge list (.edgelist, .edges, .txt) file", suffix or "no suffix")


def _npz_names(path: str | Path) -> list[str]:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return [n.removesuffix(".npy") for n in archive.namelist()]
    except Exception as exc:  # zipfile raises BadZipFile, NotImplementedError, ValueError, ... on a broken archive
        raise InputError(str(path), "a valid .npz archive", f"unreadable ({type(exc).__name__})") from None


def from_networkx(graph: Any, feature: str = "x") -> GraphData:
    """A networkx graph (nodes in iteration order; node attribute ``feature`` if every node has it)."""
    nodes = list(graph.nodes)
    position = {n: i for i, n in enumerate(nodes)}
    attrs = [graph.nodes[n].get(feature) for n in nodes]
    x = np.stack([np.atleast_1d(np.asarray(a, dtype=np.float32)) for a in attrs]) if nodes and all(a is not None for a in attrs) else np.ones((len(nodes), 1), np.float32)
    pairs = [(position[u], position[v]) for u, v in graph.edges()]
    if not graph.is_directed():
        pairs += [(v, u) for u, v in pairs]
    edge_index = np.asarray(pairs, dtype=np.int64).T if pairs else np.zeros((2, 0), np.int64)
    return _validate(x, edge_index, "networkx graph")


def hop_distances(adjacency: np.ndarray, max_hops: int | None = None) -> np.ndarray:
    """``[n, n]`` shortest-path lengths in edges along directed ``adjacency [n, n]`` (0/1),
    ``-1`` where unreachable: a breadth-first search from every node at once, one matrix
    product per hop. With ``max_hops``, lengths beyond it are reported as ``max_hops + 1``
    (still told apart from unreachable pairs), found by squaring the reachability matrix,
    so a long path costs ``max_hops + log2(n)`` products instead of ``n``."""
    n = adjacency.shape[0]
    hops = np.full((n, n), -1, dtype=np.int32)
    np.fill_diagonal(hops, 0)
    reached = np.eye(n, dtype=bool)
    frontier = reached.copy()
    step = 0
    adjacency = adjacency.astype(np.float32, copy=False)
    while frontier.any():
        if max_hops is not None and step >= max_hops:
            # Everything still reachable is farther than max_hops: close the reach by squaring.
            reach = reached.astype(np.float32)
            while True:
                grown = (reach @ reach) > 0
                if (grown == (reach > 0)).all():
                    break
                reach = grown.astype(np.float32)
            hops[(reach > 0) & ~reached] = max_hops + 1
            return hops
        step += 1
        frontier = ((frontier.astype(np.float32) @ adjacency) > 0) & ~reached
        hops[frontier] = step
        reached |= frontier
    return hops


@dataclass
class GraphSample:
    """``x [N, F]``, ``in_degree``/``out_degree [N]`` (clipped) and ``distance [N, N]`` (clipped hop counts)."""

    x: Tensor
    in_degree: Tensor
    out_degree: Tensor
    distance: Tensor


@dataclass
class GraphTransform(Configurable):
    """``GraphData`` or networkx graph → :class:`GraphSample`.

    Args:
        undirected: add every edge's reverse (most molecule and citation graphs).
        max_degree: degrees above it share the last embedding.
        max_distance: hop counts above it share one bucket; unreachable pairs get
            ``max_distance + 1``.
        feature_dim: expected F (None: any); another width raises.
    """

    undirected: bool = True
    max_degree: int = 64
    max_distance: int = 8
    feature_dim: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_degree", "max_distance"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise InputError(name, "a positive integer", getattr(self, name))
        if self.feature_dim is not None and (not isinstance(self.feature_dim, int) or self.feature_dim < 1):
            raise InputError("feature_dim", "a positive integer or None", self.feature_dim)

    def __call__(self, graph: GraphData | Any) -> GraphSample:
        if not isinstance(graph, GraphData):
            graph = from_networkx(graph)
        graph = _validate(graph.x, graph.edge_index, graph.source)
        if self.feature_dim is not None and graph.x.shape[1] != self.feature_dim:
            raise InputError(f"{graph.source}: x", f"{self.feature_dim} features per node", f"{graph.x.shape[1]}")
        n = graph.num_nodes
        src, dst = graph.edge_index
        if self.undirected:
            src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
        adjacency = np.zeros((n, n), dtype=np.float32)
        adjacency[src, dst] = 1.0  # duplicate edges count once
        out_degree = adjacency.sum(axis=1).astype(np.int64)
        in_degree = adjacency.sum(axis=0).astype(np.int64)
        # Hops beyond max_distance share one bucket: the search need not count them exactly.
        hops = hop_distances(adjacency, self.max_distance)  # -1 where unreachable
        hops = np.where(hops < 0, self.max_distance + 1, np.minimum(hops, self.max_distance))
        return GraphSample(
            torch.from_numpy(graph.x),
            torch.from_numpy(np.minimum(in_degree, self.max_degree)).long(),
            torch.from_numpy(np.minimum(out_degree, self.max_degree)).long(),
            torch.from_numpy(hops.astype(np.int64)),
        )


@dataclass
class GraphAugment:
    """Training-time edge and feature dropout of a :class:`GraphSample` (GraphCL's edge
    perturbation and attribute masking; You et al., 2020).

    Args:
        edge_dropout: probability of removing each edge (both directions of an undirected
            one); degrees and shortest-path distances are recomputed.
        feature_dropout: probability of zeroing each node feature value.
        max_degree, max_distance: the transform's clipping (filled in from it).
    """

    edge_dropout: float = 0.0
    feature_dropout: float = 0.0
    max_degree: int = 64
    max_distance: int = 8
    field: InitVar[str] = "augment.graph"

    def __post_init__(self, field: str) -> None:
        check_probability(self.edge_dropout, f"{field}.edge_dropout")
        check_probability(self.feature_dropout, f"{field}.feature_dropout")

    def __call__(self, sample: GraphSample, generator: torch.Generator) -> GraphSample:
        x, in_degree, out_degree, distance = sample.x, sample.in_degree, sample.out_degree, sample.distance
        if self.edge_dropout:
            adjacency = distance == 1  # [N, N]: the transform's edges (distance 1), self-loops aside
            if torch.equal(adjacency, adjacency.T):  # undirected: drop both directions together
                keep = torch.rand(adjacency.shape, generator=generator).triu(1) >= self.edge_dropout
                keep = keep | keep.T
            else:
                keep = torch.rand(adjacency.shape, generator=generator) >= self.edge_dropout
            adjacency = (adjacency & keep).float()
            out_degree = adjacency.sum(1).long().clamp(max=self.max_degree)
            in_degree = adjacency.sum(0).long().clamp(max=self.max_degree)
            hops = torch.from_numpy(hop_distances(adjacency.numpy()))
            distance = torch.where(hops < 0, self.max_distance + 1, hops.clamp(max=self.max_distance))
        if self.feature_dropout:
            x = x * (torch.rand(x.shape, generator=generator) >= self.feature_dropout)
        return GraphSample(x, in_degree, out_degree, distance)


@dataclass
class GraphBatch(Batch):
    """Graphs padded to the largest: ``x [B, N, F]``, degrees ``[B, N]``, ``distance [B, N, N]``, ``lengths [B]``."""

    x: Tensor
    in_degree: Tensor
    out_degree: Tensor
    distance: Tensor
    lengths: Tensor

    @property
    def mask(self) -> Tensor:
        return lengths_to_mask(self.lengths, self.x.shape[1]).to(self.x.device)


def collate_graphs(samples: Sequence[GraphSample]) -> GraphBatch:
    if not samples or any(not isinstance(s, GraphSample) for s in samples):
        raise InputError("samples", "GraphSample objects from GraphTransform", [type(s).__name__ for s in samples])
    if len({s.x.shape[1] for s in samples}) != 1:
        raise InputError("samples", "graphs with the same node feature width", sorted({s.x.shape[1] for s in samples}))
    b, n = len(samples), max(s.x.shape[0] for s in samples)
    x = torch.zeros(b, n, samples[0].x.shape[1])
    in_deg = torch.zeros(b, n, dtype=torch.long)
    out_deg = torch.zeros(b, n, dtype=torch.long)
    dist = torch.zeros(b, n, n, dtype=torch.long)
    for i, s in enumerate(samples):
        k = s.x.shape[0]
        x[i, :k], in_deg[i, :k], out_deg[i, :k], dist[i, :k, :k] = s.x, s.in_degree, s.out_degree, s.distance
    return GraphBatch(x, in_deg, out_deg, dist, torch.tensor([s.x.shape[0] for s in samples]))


@TOKENIZERS.register("graphormer")
class GraphormerTokenizer(Tokenizer):
    """Node tokens with centrality encodings and a shortest-path attention bias.

    Args:
        dim: token width D.
        feature_dim: node feature width F.
        num_heads: heads of the encoder the bias is for (``[B, H, N, N]``).
        max_degree, max_distance: as in :class:`GraphTransform`.

    Inputs: :class:`GraphBatch`.

    Returns: Tokens ``[B, max N, D]`` (one per node, mask of real nodes) with
    ``attention_bias [B, num_heads, N, N]``.
    """

    modality = "graph"

    model_settings = ("num_heads",)  # one distance bias per attention head of the encoder

    def __init__(self, dim: int = 768, *, feature_dim: int = 1, num_heads: int = 12, max_degree: int = 64, max_distance: int = 8) -> None:
        super().__init__()
        self.dim, self.feature_dim, self.num_heads = dim, feature_dim, num_heads
        self.max_degree, self.max_distance = max_degree, max_distance
        self.node_proj = nn.Linear(feature_dim, dim)
        self.in_degree_embed = nn.Embedding(max_degree + 1, dim)
        self.out_degree_embed = nn.Embedding(max_degree + 1, dim)
        self.distance_bias = nn.Embedding(max_distance + 2, num_heads)
        for emb in (self.in_degree_embed, self.out_degree_embed, self.distance_bias):
            nn.init.normal_(emb.weight, std=0.02)

    def forward(self, batch: GraphBatch) -> Tokens:
        if not isinstance(batch, GraphBatch):
            raise InputError("batch", "a GraphBatch (collate_graphs)", type(batch).__name__)
        if batch.x.shape[-1] != self.feature_dim:
            raise InputError("batch.x", f"{self.feature_dim} features per node", f"{batch.x.shape[-1]}")
        emb = (
            self.node_proj(batch.x)
            + self.in_degree_embed(batch.in_degree.clamp(0, self.max_degree))
            + self.out_degree_embed(batch.out_degree.clamp(0, self.max_degree))
        )  # [B, N, D]
        bias = self.distance_bias(batch.distance.clamp(0, self.max_distance + 1)).permute(0, 3, 1, 2)  # [B, H, N, N]
        return Tokens(emb, batch.mask, self.modality, bias.contiguous())


@MODALITIES.register("graph")
class GraphModality(Modality):
    """NPZ (edge_index, x), edge lists, networkx → Graphormer node tokens + shortest-path bias."""

    extensions = (".edgelist", ".edges")
    reads = (".npz", ".txt")
    read = staticmethod(read_graph)
    transform = GraphTransform
    collate = staticmethod(collate_graphs)
    default_tokenizer = "graphormer"
    augmentation = GraphAugment

    @classmethod
    def build_augmentation(cls, options: Any, transform: GraphTransform, field: str | None = None) -> GraphAugment:
        clipping = {"max_degree": transform.max_degree, "max_distance": transform.max_distance}
        return super().build_augmentation({**clipping, **options}, transform, field)

    @classmethod
    def tokenizer_defaults(cls, transform: GraphTransform, tokenizer: str) -> dict[str, Any]:
        # The embedding tables must hold every degree and distance bucket the transform makes.
        if tokenizer != "graphormer":
            return {}
        out = {"max_degree": transform.max_degree, "max_distance": transform.max_distance}
        return out if transform.feature_dim is None else {**out, "feature_dim": transform.feature_dim}
