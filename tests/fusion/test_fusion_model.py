"""FusionClassifier composed by injection; the docs/fusion.md usage example runs here verbatim."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polymodal.errors import ConfigError
from polymodal.fusion import FUSIONS, ModalityDropout, build_fusion
from polymodal.models.fusion_model import FusionClassifier
from polymodal.tokens import Tokens


class RowTokenizer(nn.Module):
    """``[B, N, F]`` features → Tokens ``[B, N, D]`` (a stand-in for a real modality tokenizer)."""

    def __init__(self, features: int, dim: int, modality: str) -> None:
        super().__init__()
        self.proj, self.modality = nn.Linear(features, dim), modality

    def forward(self, x: torch.Tensor) -> Tokens:
        return Tokens.dense(self.proj(x), self.modality)


@pytest.mark.parametrize("name", FUSIONS.names())
def test_classifier_trains_one_step_with_every_strategy(name):
    tokenizers = {"image": RowTokenizer(8, 16, "image"), "text": RowTokenizer(5, 16, "text")}
    fusion = build_fusion(name, {"modalities": ["image", "text"], "dim": 16, "num_heads": 2})
    model = FusionClassifier(tokenizers, fusion, nn.Linear(16, 3), modality_dropout=ModalityDropout(0.3))
    batch = {"image": torch.randn(4, 6, 8), "text": torch.randn(4, 3, 5)}
    loss = nn.functional.cross_entropy(model(batch).logits, torch.tensor([0, 1, 2, 0]))
    loss.backward()
    assert torch.isfinite(loss)
    model.eval()
    assert model({"image": batch["image"]}).logits.shape == (4, 3)  # text missing at test time


def test_late_fusion_logits_without_a_head():
    tokenizers = {"a": RowTokenizer(4, 16, "a"), "b": RowTokenizer(4, 16, "b")}
    fusion = build_fusion("late", {"modalities": ["a", "b"], "dim": 16, "num_heads": 2, "num_classes": 5, "combine": "poe"})
    model = FusionClassifier(tokenizers, fusion, head=None)
    assert model({"a": torch.randn(2, 3, 4), "b": torch.randn(2, 2, 4)}).logits.shape == (2, 5)
    with pytest.raises(ConfigError):
        FusionClassifier(tokenizers, build_fusion("early_concat", {"modalities": ["a", "b"], "dim": 16, "num_heads": 2}))(
            {"a": torch.randn(2, 3, 4)}
        )
    with pytest.raises(ConfigError, match="tokenizers"):
        FusionClassifier({"c": RowTokenizer(4, 16, "c")}, fusion)


def test_docs_usage_example():
    # --- begin docs/fusion.md example ---
    import torch
    from torch import nn

    from polymodal.fusion import ModalityDropout, build_fusion
    from polymodal.models.fusion_model import FusionClassifier
    from polymodal.tokens import Tokens

    class Linear2Tokens(nn.Module):  # stands in for a modality tokenizer: [B, N, F] -> Tokens [B, N, D]
        def __init__(self, features: int, modality: str) -> None:
            super().__init__()
            self.proj, self.modality = nn.Linear(features, 64), modality

        def forward(self, x: torch.Tensor) -> Tokens:
            return Tokens.dense(self.proj(x), self.modality)

    fusion = build_fusion("cross_attention", {"modalities": ["image", "text"], "dim": 64, "num_heads": 4, "depth": 2})
    model = FusionClassifier(
        tokenizers={"image": Linear2Tokens(48, "image"), "text": Linear2Tokens(32, "text")},
        fusion=fusion,
        head=nn.Linear(64, 10),
        modality_dropout=ModalityDropout(p=0.3),  # train to survive a missing modality
    )
    batch = {"image": torch.randn(2, 196, 48), "text": torch.randn(2, 12, 32)}
    out = model(batch, output_attentions=True)
    print(out.logits.shape)                                    # torch.Size([2, 10])
    print(out.fusion.attentions["cross:text"][-1].shape)       # torch.Size([2, 4, 12, 196]): words → patches
    model.eval()
    print(model({"image": batch["image"]}).logits.shape)       # text missing: torch.Size([2, 10])
    # --- end docs/fusion.md example ---
    assert out.logits.shape == (2, 10)
    assert out.fusion.attentions["cross:text"][-1].shape == (2, 4, 12, 196)
