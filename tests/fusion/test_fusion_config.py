"""Typed, strict configs and clear errors."""

from __future__ import annotations

import pytest
import torch

from fusion_helpers import tiny, tokens
from polymodal.errors import ConfigError, InputError
from polymodal.fusion import FUSIONS, EarlyConcatConfig, build_fusion


def test_registry_lists_all_seven():
    assert FUSIONS.names() == sorted(
        ["early_sum", "early_concat", "multi_to_one", "one_to_multi", "cross_attention", "cross_to_concat", "late"]
    )


def test_unknown_strategy_lists_valid_names():
    with pytest.raises(ConfigError, match="early_concat"):
        build_fusion("early_fusion", {"modalities": ["a"]})


def test_unknown_key_rejected():
    with pytest.raises(ConfigError, match="depht"):
        build_fusion("early_concat", {"modalities": ["a", "b"], "depht": 2})


def test_literal_choices_checked():
    with pytest.raises(ConfigError, match="combine"):
        build_fusion("late", {"modalities": ["a", "b"], "combine": "max"})
    with pytest.raises(ConfigError, match="align"):
        build_fusion("early_sum", {"modalities": ["a", "b"], "align": "pad"})


def test_bad_values():
    with pytest.raises(ConfigError, match="num_heads"):
        build_fusion("early_concat", {"modalities": ["a", "b"], "dim": 10, "num_heads": 4})
    with pytest.raises(ConfigError, match="shared_depth"):
        build_fusion("multi_to_one", {"modalities": ["a", "b"], "shared_depth": 0})
    with pytest.raises(ConfigError, match="init_weights"):
        build_fusion("early_sum", {"modalities": ["a", "b"], "init_weights": [1.0]})
    with pytest.raises(ConfigError, match="modalities"):
        build_fusion("early_concat", {})


@pytest.mark.parametrize("name", ["cross_attention", "cross_to_concat"])
def test_cross_strategies_need_two_modalities(name):
    with pytest.raises(ConfigError, match="at least two"):
        build_fusion(name, {"modalities": ["a"]})


def test_config_object_and_overrides():
    fusion = build_fusion("early_concat", EarlyConcatConfig(modalities=("b", "a"), dim=16, num_heads=2), depth=1)
    assert fusion.config.modalities == ("a", "b") and fusion.config.depth == 1
    with pytest.raises(ConfigError):
        build_fusion("late", EarlyConcatConfig(modalities=("a",)))


def test_input_errors():
    fusion = tiny("early_concat")
    with pytest.raises(InputError, match="keys among"):
        fusion({"c": tokens("c", [2])})
    with pytest.raises(InputError, match="width"):
        fusion({"a": tokens("a", [2]).replace(embeddings=torch.randn(1, 2, 8))})
    with pytest.raises(InputError, match="batch size"):
        fusion({"a": tokens("a", [2]), "b": tokens("b", [2, 3])})
    with pytest.raises(InputError):
        fusion({})


def test_early_sum_alignment_rule():
    fusion = tiny("early_sum", align="require_equal")
    with pytest.raises(InputError, match="equal real lengths"):
        fusion({"a": tokens("a", [4]), "b": tokens("b", [3])})
    out = fusion({"a": tokens("a", [4]), "b": tokens("b", [4])})
    assert out.sequence.length == 4


def test_resample_interpolates_real_tokens_to_the_longest():
    from polymodal.fusion.resample import resample_to
    from polymodal.tokens import Tokens

    x = torch.tensor([[0.0, 2.0, 99.0]])[..., None]  # two real tokens, one padding
    t = Tokens(x, torch.tensor([[True, True, False]]), "a")
    out = resample_to(t, torch.tensor([5]), 5)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0]))
    same = resample_to(t, torch.tensor([2]), 3)
    torch.testing.assert_close(same[0, :, 0], torch.tensor([0.0, 2.0, 0.0]))


def test_early_sum_ignores_where_the_padding_sits():
    from polymodal.tokens import Tokens

    fusion = tiny("early_sum")
    a, b = tokens("a", [5, 3]), tokens("b", [4, 2])
    # Same real tokens, padding moved to the front of each row.
    order_b = torch.stack([torch.arange(4), torch.tensor([2, 3, 0, 1])])
    left_b = Tokens(b.embeddings.gather(1, order_b[..., None].expand(-1, -1, b.dim)), b.mask.gather(1, order_b), "b")
    assert not torch.equal(left_b.mask, b.mask)
    torch.testing.assert_close(fusion({"a": a, "b": left_b}).pooled, fusion({"a": a, "b": b}).pooled)
