"""Every registered objective: one ObjectiveOutput with a finite scalar loss, scalar terms,
detached metrics, and gradients that reach its inputs and its own parameters."""

import pytest
import torch

from polymodal.encoder import TransformerEncoder
from polymodal.objectives import OBJECTIVES, ObjectiveOutput, build_objective
from polymodal.tokens import Tokens


def case(name: str) -> tuple[torch.nn.Module, tuple, torch.Tensor]:
    """A tiny objective of each kind, its call arguments and one input that needs a gradient."""
    x = torch.randn(4, 6, requires_grad=True)
    if name == "infonce":
        return build_objective(name), ({"image": x, "text": torch.randn(4, 6)},), x
    if name == "mlm":
        logits = torch.randn(2, 5, 11, requires_grad=True)
        labels = torch.full((2, 5), -100)
        labels[0, 1], labels[1, 4] = 3, 7
        return build_objective(name), (logits, labels), logits
    if name == "captioning":
        logits = torch.randn(2, 4, 9, requires_grad=True)
        return build_objective(name, label_smoothing=0.1), (logits, torch.tensor([[1, 2, 3, -100], [4, 5, -100, -100]])), logits
    if name == "classification":
        return build_objective(name), (x, torch.tensor([0, 5, 2, 1])), x
    if name == "regression":
        return build_objective(name), (x, torch.randn(4, 6)), x
    if name == "matching":
        emb = torch.randn(4, 3, 6, requires_grad=True)
        tokens = Tokens.dense(emb, "image")
        joint = lambda a, b: torch.cat([a.mean(), b.mean()], dim=-1)  # noqa: E731
        return build_objective(name, 12), (joint, tokens, tokens, torch.randn(4, 4)), emb
    if name == "masked_patch":
        emb = torch.randn(2, 8, 16, requires_grad=True)
        encoder = TransformerEncoder(dim=16, depth=1, num_heads=2)
        mae = build_objective(name, encoder, 8, 5, decoder_dim=16, decoder_depth=1, decoder_heads=2)
        return mae, (Tokens.dense(emb, "image"), torch.randn(2, 8, 5)), emb
    raise AssertionError(f"add a contract case for the new objective {name!r}")


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_objective_contract(name: str) -> None:
    objective, args, needs_grad = case(name)
    out = objective(*args)
    assert isinstance(out, ObjectiveOutput)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert out.terms and all(t.ndim == 0 for t in out.terms.values())
    assert all(not m.requires_grad for m in out.metrics.values())
    out.loss.backward()
    assert needs_grad.grad is not None and torch.isfinite(needs_grad.grad).all()
    for pname, p in objective.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name}: no gradient for {pname}"
