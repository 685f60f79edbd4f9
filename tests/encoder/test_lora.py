"""LoRA adapters on polymodal's TransformerEncoder: exact at start, only adapters train,
merged weights compute the same function, a pretrained state dict still loads."""

import pytest
import torch

from polymodal.encoder import EncoderConfig, TransformerEncoder
from polymodal.encoder.lora import LoRAConfig, LoRALinear, apply_lora, lora_config, merge_lora
from polymodal.errors import ConfigError
from polymodal.tokens import Tokens


def encoder() -> TransformerEncoder:
    torch.manual_seed(0)
    return TransformerEncoder(EncoderConfig(dim=16, depth=2, num_heads=2, cls_token=False, pool="mean"))


def tokens() -> Tokens:
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1))
    return Tokens(x, torch.tensor([[True] * 5, [True] * 3 + [False] * 2]), "x")


def test_adapters_start_exact_and_are_all_that_trains():
    base = encoder().eval()
    adapted = apply_lora(encoder(), LoRAConfig(r=4, alpha=8)).eval()
    torch.testing.assert_close(adapted(tokens()).hidden, base(tokens()).hidden, rtol=0, atol=0)  # B = 0
    layers = [m for m in adapted.modules() if isinstance(m, LoRALinear)]
    assert len(layers) == 2 * 4  # qkv, proj, fc1, fc2 per block
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(("lora_a", "lora_b")) for n in trainable)
    assert sum(adapted.state_dict()[n].numel() for n in trainable) == 2 * (4 * (16 + 48) + 4 * (16 + 16) + 4 * (16 + 64) + 4 * (64 + 16))
    adapted.train()
    adapted(tokens()).hidden.sum().backward()
    assert all(p.grad is not None for n, p in adapted.named_parameters() if n.endswith("lora_a") or n.endswith("lora_b"))
    # The base names are kept: a pretrained state dict loads into the adapted encoder as it is.
    missing, unexpected = adapted.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.endswith(("lora_a", "lora_b")) for k in missing)
    assert lora_config(adapted) == LoRAConfig(r=4, alpha=8, targets=("fc1", "fc2", "proj", "qkv"))
    assert lora_config(base) is None


def test_merged_equals_adapted_and_known_update():
    adapted = apply_lora(encoder(), LoRAConfig(r=2, alpha=4, targets=("fc1",))).eval()
    for layer in (m for m in adapted.modules() if isinstance(m, LoRALinear)):
        torch.nn.init.normal_(layer.lora_b, std=0.1)
    layer = adapted.blocks[0].mlp.fc1
    x = torch.randn(3, 16)
    expected = x @ layer.weight.T + layer.bias + 2.0 * (x @ layer.lora_a.T @ layer.lora_b.T)  # alpha / r = 2
    torch.testing.assert_close(layer(x), expected)
    before = adapted(tokens()).hidden
    merged = merge_lora(adapted)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    torch.testing.assert_close(merged(tokens()).hidden, before, rtol=1e-5, atol=1e-5)


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="lora.r"):
        LoRAConfig(r=0)
    with pytest.raises(ConfigError, match="lora.targets"):
        apply_lora(encoder(), LoRAConfig(targets=("nope",)))
    adapted = apply_lora(encoder(), LoRAConfig())
    with pytest.raises(ConfigError, match="already has LoRA"):
        apply_lora(adapted, LoRAConfig())
