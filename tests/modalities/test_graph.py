import networkx as nx
import numpy as np
import pytest
import torch
from modality_checks import check_encoder_gradients, check_padding_invariance, check_tokens

from polymodal.errors import InputError
from polymodal.modalities import MODALITIES, TOKENIZERS
from polymodal.modalities.graph import GraphTransform, collate_graphs, from_networkx, read_graph


def test_npz_edge_list_and_networkx_to_encoder(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "ring.npz", edge_index=np.array([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]]), x=rng.random((5, 3)))
    (tmp_path / "path.edgelist").write_text("# a path\n0 1\n1 2\n")
    spec = MODALITIES.get("graph")
    transform = spec.transform()
    ring = transform(spec.read(tmp_path / "ring.npz"))
    assert ring.distance[0].tolist() == [0, 1, 2, 2, 1]
    assert ring.in_degree.tolist() == [2] * 5
    path = read_graph(tmp_path / "path.edgelist")
    assert path.num_nodes == 3
    star = nx.star_graph(3)  # 4 nodes; give them 3 features
    nx.set_node_attributes(star, {n: [float(n), 1.0, 0.0] for n in star.nodes}, "x")
    samples = [ring, transform(star)]
    assert samples[1].distance.tolist()[1] == [1, 0, 2, 2]
    batch = spec.collate(samples)
    tok = TOKENIZERS.get(spec.default_tokenizer)(dim=32, feature_dim=3, num_heads=2)
    tokens = tok(batch)
    check_tokens(tokens, 2, 5, 32, "graph")
    assert tokens.mask.sum(1).tolist() == [5, 4]
    assert tokens.attention_bias.shape == (2, 2, 5, 5)
    check_encoder_gradients(tok, batch, heads=2)


def test_unreachable_and_clipped_distances():
    g = nx.path_graph(12)
    g.add_node(12)  # isolated
    s = GraphTransform(max_distance=4)(g)
    assert s.distance[0, 11] == 4 and s.distance[0, 12] == 5 and s.distance[12, 12] == 0


def test_graphs_of_different_sizes_padding_invariant():
    transform = GraphTransform()
    graphs = [nx.cycle_graph(7), nx.path_graph(3), nx.complete_graph(5), nx.balanced_tree(2, 2)]
    samples = [transform(g) for g in graphs]
    tok = TOKENIZERS.get("graphormer")(dim=32, feature_dim=1, num_heads=2)
    check_padding_invariance(tok, collate_graphs, samples)
    # The bias matters: without it the encoder output would differ.
    tokens = tok(collate_graphs(samples))
    assert tokens.attention_bias.std() > 0


def test_bad_graphs(tmp_path):
    np.savez(tmp_path / "bad.npz", edge_index=np.array([[0, 1], [1, 5]]), x=np.ones((3, 2)))
    with pytest.raises(InputError, match="bad.npz: edge_index"):
        read_graph(tmp_path / "bad.npz")
    np.savez(tmp_path / "nan.npz", edge_index=np.array([[0], [1]]), x=np.array([[np.nan], [1.0]]))
    with pytest.raises(InputError, match="nan.npz: x"):
        read_graph(tmp_path / "nan.npz")
    np.savez(tmp_path / "noedges.npz", x=np.ones((3, 2)))
    with pytest.raises(InputError, match="edge_index"):
        read_graph(tmp_path / "noedges.npz")
    (tmp_path / "trunc.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(InputError, match="trunc.npz"):
        read_graph(tmp_path / "trunc.npz")
    with pytest.raises(InputError, match="2 features"):
        GraphTransform(feature_dim=2)(from_networkx(nx.path_graph(3)))
    tok = TOKENIZERS.get("graphormer")(dim=16, feature_dim=2, num_heads=2)
    with pytest.raises(InputError, match="2 features"):
        tok(collate_graphs([GraphTransform()(nx.path_graph(3))]))
