import math

import pytest
import torch
from torch import nn

from polymodal.errors import InputError
from polymodal.evaluation import ZeroShotClassifier


class FakeModel(nn.Module):
    """Known embeddings: a prompt's embedding is looked up by its exact text."""

    def __init__(self, table: dict[str, list[float]], logit_scale: float | None = None) -> None:
        super().__init__()
        self.table = table
        if logit_scale is not None:
            self.logit_scale = nn.Parameter(torch.tensor(logit_scale))

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        return torch.tensor([self.table[t] for t in texts])

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return images  # the "images" are their embeddings


TABLE = {
    "a photo of a cat.": [2.0, 0.0],  # normalised: [1, 0]
    "a drawing of a cat.": [0.0, 3.0],  # normalised: [0, 1]
    "a photo of a dog.": [0.0, -1.0],
    "a drawing of a dog.": [0.0, -5.0],
}


def test_exact_logits_with_prompt_ensembling_and_scale() -> None:
    model = FakeModel(TABLE, logit_scale=math.log(10.0))
    clf = ZeroShotClassifier(model, ["cat", "dog"], templates=["a photo of a {}.", "a drawing of a {}."])
    # cat = normalise(mean([1, 0], [0, 1])) = [1, 1]/√2; dog = [0, -1].
    r = 1 / math.sqrt(2)
    assert torch.allclose(clf.weights, torch.tensor([[r, r], [0.0, -1.0]]), atol=1e-6)
    images = torch.tensor([[3.0, 0.0], [0.0, -0.5]])
    expected = 10.0 * torch.tensor([[r, 0.0], [-r, 1.0]])
    assert torch.allclose(clf(images), expected, atol=1e-5)
    assert clf.predict(images).tolist() == [0, 1]


def test_scale_is_clamped_at_100_and_defaults_to_1() -> None:
    images = torch.tensor([[1.0, 0.0]])
    templates = ["a photo of a {}."]
    big = ZeroShotClassifier(FakeModel(TABLE, logit_scale=9.0), ["cat", "dog"], templates)
    assert torch.allclose(big(images), torch.tensor([[100.0, 0.0]]), atol=1e-4)
    plain = ZeroShotClassifier(FakeModel(TABLE), ["cat", "dog"], templates)
    assert torch.allclose(plain(images), torch.tensor([[1.0, 0.0]]))


def test_bad_arguments() -> None:
    with pytest.raises(InputError):
        ZeroShotClassifier(FakeModel(TABLE), [], ["a photo of a {}."])
    with pytest.raises(InputError):
        ZeroShotClassifier(FakeModel(TABLE), ["cat"], ["no placeholder"])
    with pytest.raises(InputError):
        ZeroShotClassifier(FakeModel(TABLE), ["cat"], ["a photo of a {}."], modality="audio")
