import pytest
import torch
from torch import nn

from polymodal.errors import ConfigError, InputError
from polymodal.heads import (
    HEADS,
    build_head,
    ClassificationHead,
    MLMHead,
    PatchReconstructionHead,
    ProjectionHead,
    RegressionHead,
)

D = 8


def build(name: str, hidden: int | None) -> tuple[nn.Module, torch.Tensor, tuple[int, ...]]:
    """A tiny head of each registered kind, an input and the expected output shape."""
    if name == "classification":
        return ClassificationHead(D, 3, hidden_dim=hidden), torch.randn(2, D), (2, 3)
    if name == "regression":
        return RegressionHead(D, 2, hidden_dim=hidden), torch.randn(2, D), (2, 2)
    if name == "projection":
        return ProjectionHead(D, 4, hidden_dim=hidden), torch.randn(2, D), (2, 4)
    if name == "mlm":
        return MLMHead(nn.Embedding(11, 6), D), torch.randn(2, 5, D), (2, 5, 11)
    if name == "patch_reconstruction":
        return PatchReconstructionHead(D, 12, hidden_dim=hidden), torch.randn(2, 5, D), (2, 5, 12)
    raise AssertionError(f"add a contract case for the new head {name!r}")


@pytest.mark.parametrize("hidden", [None, 16])
@pytest.mark.parametrize("name", HEADS.names())
def test_head_contract(name: str, hidden: int | None) -> None:
    head, x, shape = build(name, hidden)
    out = head(x)
    assert out.shape == shape and torch.isfinite(out).all()
    out.square().sum().backward()
    assert all(p.grad is not None for p in head.parameters())


def test_registry_names() -> None:
    assert HEADS.names() == ["classification", "mlm", "patch_reconstruction", "projection", "regression"]
    with pytest.raises(ConfigError, match="classification"):
        HEADS.get("segmentation")


def test_classification_predict_single_and_multi_label() -> None:
    head = ClassificationHead(2, 2)
    with torch.no_grad():
        head.net[1].weight.copy_(torch.eye(2))
        head.net[1].bias.zero_()
    x = torch.tensor([[3.0, -1.0], [2.0, 1.0]])
    assert head.predict(x).tolist() == [0, 0]
    head.multi_label = True
    assert head.predict(x).tolist() == [[True, False], [True, True]]
    with pytest.raises(InputError):
        head(torch.randn(2, 3))


def test_projection_is_unit_norm() -> None:
    out = ProjectionHead(D, 4, hidden_dim=16)(torch.randn(5, D))
    assert torch.allclose(out.norm(dim=-1), torch.ones(5))
    raw = ProjectionHead(D, 4, normalize=False)(torch.randn(5, D))
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(5))


def test_mlm_head_is_tied_to_the_input_embedding() -> None:
    embedding = nn.Embedding(11, D)
    head = MLMHead(embedding, D)
    assert head.weight is embedding.weight
    assert "weight" not in dict(head.named_parameters())  # owned once, by the embedding
    hidden = torch.randn(2, 3, D)
    head(hidden).sum().backward()
    assert embedding.weight.grad is not None
    before = head(hidden).detach()
    with torch.no_grad():
        embedding.weight.add_(torch.randn_like(embedding.weight))
    assert not torch.allclose(head(hidden), before)


def test_build_head_by_name() -> None:
    head = build_head("classification", D, 4, hidden_dim=16)
    assert isinstance(head, ClassificationHead) and head(torch.randn(2, D)).shape == (2, 4)
    with pytest.raises(ConfigError, match="hidden_dim"):
        build_head("classification", D, 4, hiden_dim=16)
