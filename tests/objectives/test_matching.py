import pytest
import torch
from torch import nn

from polymodal.errors import InputError
from polymodal.objectives import MatchingLoss, sample_hard_negatives
from polymodal.tokens import Tokens


def test_never_picks_the_positive() -> None:
    g = torch.Generator().manual_seed(0)
    sim = torch.randn(6, 6) * 3 + torch.eye(6) * 50  # the positive is by far the most similar
    draws = torch.stack([sample_hard_negatives(sim, generator=g) for _ in range(500)])
    assert not (draws == torch.arange(6)).any()
    # Offset: the local rows are rows 4..7 of a gathered batch of 10 columns.
    wide = torch.randn(4, 10) + torch.eye(4, 10).roll(4, dims=1) * 50
    draws = torch.stack([sample_hard_negatives(wide, offset=4, generator=g) for _ in range(500)])
    assert not (draws == torch.arange(4, 8)).any()


def test_same_id_pairs_are_never_negatives() -> None:
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor([0, 0, 1, 1, 2])  # two captions for images 0 and 1
    sim = torch.randn(5, 5)
    draws = torch.stack([sample_hard_negatives(sim, row_ids=ids, column_ids=ids, generator=g) for _ in range(500)])
    assert not (ids[draws] == ids).any()
    with pytest.raises(InputError):
        sample_hard_negatives(torch.randn(2, 2), row_ids=torch.tensor([0, 0]), column_ids=torch.tensor([0, 0]))


def test_draws_follow_softmax_similarity() -> None:
    g = torch.Generator().manual_seed(0)
    sim = torch.tensor([[9.0, 2.0, 0.0, 0.0]])  # column 1 is the hardest negative
    draws = torch.stack([sample_hard_negatives(sim, generator=g) for _ in range(2000)]).flatten()
    share = (draws == 1).float().mean().item()
    expected = torch.tensor([2.0, 0.0, 0.0]).softmax(0)[0].item()  # ~0.79
    assert share == pytest.approx(expected, abs=0.03)


class Joint(nn.Module):
    """A stand-in fusion encoder: concatenated mean-pooled tokens."""

    def forward(self, a: Tokens, b: Tokens) -> torch.Tensor:
        return torch.cat([a.mean(), b.mean()], dim=-1)


def test_matching_loss_scores_positives_and_hard_negatives() -> None:
    image = Tokens.dense(torch.randn(4, 3, 5), "image")
    text = Tokens.dense(torch.randn(4, 2, 5), "text")
    sim = torch.randn(4, 4)
    joint = Joint()
    itm = MatchingLoss(10, generator=torch.Generator().manual_seed(0))
    out = itm(joint, image, text, sim)
    assert out.logits.shape == (12, 2) and out.loss.ndim == 0
    assert not (out.negatives_for_a == torch.arange(4)).any()
    assert not (out.negatives_for_b == torch.arange(4)).any()
    out.loss.backward()
    assert itm.head.weight.grad is not None
    assert set(out.terms) == {"itm"} and "accuracy" in out.metrics
