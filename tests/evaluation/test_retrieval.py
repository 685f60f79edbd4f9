import pytest
import torch

from polymodal.errors import InputError
from polymodal.evaluation import cross_modal_retrieval, retrieval_metrics


def test_index_pairing_both_directions() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # a->b similarities: row 2 = [0.6, 0.8, -0.6], so its pair ranks third.
    out = cross_modal_retrieval(a, b, names=("image", "text"))
    forward = out.a_to_b
    assert forward.recall == {1: pytest.approx(2 / 3), 5: 1.0, 10: 1.0}
    assert forward.median_rank == 1.0 and forward.mean_rank == pytest.approx(5 / 3)
    assert forward.mean_average_precision == pytest.approx(7 / 9)
    # b->a: b2 = [-1, 0] sees [-1, 0, -0.6]; a1 (0) ranks above its pair a2 (-0.6).
    assert out.b_to_a.recall[1] == pytest.approx(2 / 3) and out.b_to_a.mean_rank == pytest.approx(4 / 3)
    flat = out.as_dict()
    assert flat["image->text/R@1"] == pytest.approx(2 / 3) and "text->image/median_rank" in flat


def test_label_hits_with_several_matches_and_map() -> None:
    queries = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    gallery = torch.tensor([[0.9, 0.0], [0.1, 0.0], [0.5, 0.0], [-1.0, 0.0]])
    out = retrieval_metrics(
        queries, gallery, query_labels=[0, 1], gallery_labels=[0, 0, 1, 1], ks=(1, 2), normalize=False
    )
    # Query 0 ranks g0 (hit), g2, g1 (hit), g3: AP = (1/1 + 2/3) / 2; query 1 mirrors it.
    assert out.recall == {1: 1.0, 2: 1.0}
    assert out.mean_average_precision == pytest.approx(5 / 6)
    assert out.num_queries == 2


def test_collapsed_embeddings_score_worst() -> None:
    same = torch.ones(4, 3)
    out = retrieval_metrics(same, same)
    assert out.recall[1] == 0.0 and out.median_rank == 4.0


def test_errors() -> None:
    with pytest.raises(InputError):
        retrieval_metrics(torch.randn(3, 2), torch.randn(4, 2))  # index pairing needs equal sizes
    with pytest.raises(InputError):
        retrieval_metrics(torch.randn(2, 2), torch.randn(2, 2), query_labels=[0, 5], gallery_labels=[0, 1])
