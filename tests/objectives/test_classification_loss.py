import torch
import torch.nn.functional as F

from polymodal.objectives import ClassificationLoss, RegressionLoss


def test_single_and_multi_label() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 1.0]])
    out = ClassificationLoss()(logits, torch.tensor([0, 0]))
    assert torch.allclose(out.loss, F.cross_entropy(logits, torch.tensor([0, 0])))
    assert out.metrics["accuracy"].item() == 0.5
    targets = torch.tensor([[1, 0], [0, 0]])
    multi = ClassificationLoss(multi_label=True)(logits, targets)
    assert torch.allclose(multi.loss, F.binary_cross_entropy_with_logits(logits, targets.float()))
    assert multi.metrics["accuracy"].item() == 0.5


def test_regression() -> None:
    out = RegressionLoss()(torch.tensor([[1.0], [3.0]]), torch.tensor([2.0, 3.0]))
    assert out.loss.item() == 0.5 and out.metrics["mae"].item() == 0.5
