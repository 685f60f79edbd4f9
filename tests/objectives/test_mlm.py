import pytest
import torch

from polymodal.errors import InputError
from polymodal.objectives import IGNORE_INDEX, MLMLoss, mask_tokens

PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIAL = (PAD, CLS, SEP)
VOCAB = 1000


def batch(b: int = 256, n: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(4, VOCAB, (b, n), generator=g)
    lengths = torch.randint(8, n + 1, (b,), generator=g)
    real = torch.arange(n)[None] < lengths[:, None]
    ids[:, 0] = CLS
    ids[torch.arange(b), lengths - 1] = SEP
    ids = ids.masked_fill(~real, PAD)
    return ids, real


def test_80_10_10_statistics_over_many_draws() -> None:
    ids, real = batch()
    eligible = real & ~torch.isin(ids, torch.tensor(SPECIAL))
    g = torch.Generator().manual_seed(0)
    chosen = masked = randomised = kept = 0
    for _ in range(5):
        out = mask_tokens(ids, mask_token_id=MASK, vocab_size=VOCAB, special_ids=SPECIAL, attention_mask=real, generator=g)
        assert torch.equal(out.chosen, out.labels != IGNORE_INDEX)
        assert torch.equal(out.labels[out.chosen], ids[out.chosen])
        chosen += out.chosen.sum().item()
        masked += (out.chosen & (out.input_ids == MASK)).sum().item()
        randomised += (out.chosen & (out.input_ids != MASK) & (out.input_ids != ids)).sum().item()
        kept += (out.chosen & (out.input_ids == ids)).sum().item()
        # Never special tokens or padding; nothing outside the chosen set changes.
        assert not (out.chosen & ~eligible).any()
        assert torch.equal(out.input_ids[~out.chosen], ids[~out.chosen])
        # Random replacements are ordinary tokens.
        assert not torch.isin(out.input_ids[out.chosen & (out.input_ids != MASK)], torch.tensor(SPECIAL)).any()
    total_eligible = 5 * eligible.sum().item()  # ~80k tokens
    assert chosen / total_eligible == pytest.approx(0.15, abs=0.005)
    assert masked / chosen == pytest.approx(0.8, abs=0.01)
    assert randomised / chosen == pytest.approx(0.1, abs=0.01)
    assert kept / chosen == pytest.approx(0.1, abs=0.01)


def test_mlm_loss_only_on_masked_positions() -> None:
    labels = torch.full((2, 4), IGNORE_INDEX)
    labels[0, 1] = 5
    labels[1, 3] = 2
    logits = torch.randn(2, 4, 7, requires_grad=True)
    out = MLMLoss()(logits, labels)
    expected = torch.nn.functional.cross_entropy(torch.stack([logits[0, 1], logits[1, 3]]), torch.tensor([5, 2]))
    assert torch.allclose(out.loss, expected)
    out.loss.backward()
    untouched = torch.ones(2, 4, dtype=torch.bool)
    untouched[0, 1] = untouched[1, 3] = False
    assert (logits.grad[untouched] == 0).all()
    assert out.metrics["num_masked"].item() == 2
    empty = MLMLoss()(logits, torch.full((2, 4), IGNORE_INDEX))
    assert empty.loss.item() == 0.0 and empty.loss.requires_grad


def test_rejects_float_ids() -> None:
    with pytest.raises(InputError):
        mask_tokens(torch.zeros(2, 3), mask_token_id=MASK, vocab_size=VOCAB)
