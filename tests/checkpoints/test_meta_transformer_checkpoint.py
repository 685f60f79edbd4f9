import pytest
import torch

from polymodal import Tokens
from polymodal.checkpoints.meta_transformer import convert_meta_transformer, load_meta_transformer_encoder
from polymodal.encoder import EncoderConfig, TransformerEncoder
from polymodal.errors import CheckpointError


def timm_style_state(depth=2, dim=32, hidden=64, bare=True):
    reference = TransformerEncoder(EncoderConfig(dim=dim, depth=depth, num_heads=2, mlp_hidden_dim=hidden, cls_token=False, final_norm=False, pool="mean"))
    for p in reference.parameters():
        torch.nn.init.normal_(p)
    state = {k.removeprefix("blocks.") if bare else k: v for k, v in reference.state_dict().items()}
    return reference.eval(), state


@pytest.mark.parametrize("bare", [True, False])
def test_prefix_rename_and_config(bare):
    reference, state = timm_style_state(bare=bare)
    assert ("0.norm1.weight" in state) == bare
    converted, config = convert_meta_transformer(state, num_heads=2)
    assert set(converted) == {f"encoder.blocks.{k.removeprefix('blocks.')}" for k in reference.state_dict()}
    assert config.depth == 2 and config.dim == 32 and config.mlp_hidden_dim == 64 and not config.final_norm


def test_loads_file_with_parity(tmp_path):
    reference, state = timm_style_state()
    torch.save(state, tmp_path / "Meta-Transformer_base_patch16_encoder.pth")
    encoder = load_meta_transformer_encoder(tmp_path / "Meta-Transformer_base_patch16_encoder.pth", num_heads=2)
    tokens = Tokens.dense(torch.randn(2, 5, 32), "image")
    with torch.no_grad():
        torch.testing.assert_close(encoder(tokens).hidden, reference(tokens).hidden, atol=0, rtol=0)


def test_unknown_keys_and_gaps_are_refused():
    _, state = timm_style_state()
    with pytest.raises(CheckpointError, match="patch_embed.proj.weight"):
        convert_meta_transformer({**state, "patch_embed.proj.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="0..depth-1"):
        convert_meta_transformer({k.replace("1.", "3.", 1) if k.startswith("1.") else k: v for k, v in state.items()})
