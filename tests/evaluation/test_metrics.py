import pytest
import torch

from polymodal.evaluation import accuracy, balanced_accuracy, confusion_matrix, macro_f1, top_k_accuracy


def test_classification_metrics() -> None:
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    targets = torch.tensor([0, 2, 2, 0])
    assert accuracy(scores, targets) == 0.75
    assert top_k_accuracy(scores, targets, k=2) == 1.0
    cm = confusion_matrix(scores, targets, 3)
    assert cm.tolist() == [[2, 0, 0], [0, 0, 0], [0, 1, 1]]
    assert balanced_accuracy(cm) == pytest.approx((1.0 + 0.5) / 2)
    # F1: class 0 = 1, class 1 = 0 (predicted once, never true), class 2 = 2·1/(1+2).
    assert macro_f1(cm) == pytest.approx((1 + 0 + 2 / 3) / 3)
