import pytest
import torch
import torch.nn.functional as F

from polymodal.errors import InputError
from polymodal.objectives import CaptioningLoss, teacher_forcing

PAD, BOS, EOS = 0, 1, 2


def test_teacher_forcing_shift_and_padding() -> None:
    tokens = torch.tensor([[BOS, 5, 6, EOS, PAD], [BOS, 7, EOS, PAD, PAD]])
    inputs, targets = teacher_forcing(tokens, PAD)
    assert inputs.tolist() == [[BOS, 5, 6, EOS], [BOS, 7, EOS, PAD]]
    assert targets.tolist() == [[5, 6, EOS, -100], [7, EOS, -100, -100]]
    with pytest.raises(InputError):
        teacher_forcing(torch.tensor([[BOS]]), PAD)


def test_loss_ignores_padding_and_smooths() -> None:
    logits = torch.randn(2, 4, 9)
    targets = torch.tensor([[5, 6, EOS, -100], [7, EOS, -100, -100]])
    real = targets != -100
    out = CaptioningLoss()(logits, targets)
    assert torch.allclose(out.loss, F.cross_entropy(logits[real], targets[real]))
    assert out.metrics["num_tokens"].item() == 5
    assert torch.allclose(out.metrics["perplexity"], out.loss.exp())
    smooth = CaptioningLoss(label_smoothing=0.1)(logits, targets)
    expected = F.cross_entropy(logits[real], targets[real], label_smoothing=0.1)
    assert torch.allclose(smooth.loss, expected)
    assert torch.allclose(smooth.metrics["perplexity"], out.loss.exp())  # reported without smoothing
