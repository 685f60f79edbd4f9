import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from polymodal.encoder import LearnedPositions, TransformerEncoder
from polymodal.errors import ConfigError
from polymodal.objectives import MaskedPatchModelling, patchify, random_masking
from polymodal.tokens import Tokens


def test_patchify_layout() -> None:
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    patches = patchify(images, 2)
    assert patches.shape == (2, 4, 4)
    assert patches[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]  # top-right 2x2 patch, row-major


def test_random_masking_keeps_ratio_and_restores_order() -> None:
    x = torch.arange(2 * 8, dtype=torch.float32).reshape(2, 8, 1).expand(-1, -1, 3).contiguous()
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1, 6:] = False  # two padding tokens
    m = random_masking(Tokens(x, mask, "image"), 0.75, generator=torch.Generator().manual_seed(0))
    assert m.visible.embeddings.shape == (2, 2, 3)
    assert m.hidden.sum(dim=1).tolist() == [6, 6]
    assert torch.equal(m.visible.embeddings[..., 0], x[..., 0].gather(1, m.ids_keep))
    assert not (m.ids_keep[1] >= 6).any()  # padding is never kept while real tokens remain
    # ids_restore undoes the shuffle: [kept, hidden] in shuffled order -> original order.
    shuffled = torch.cat([m.ids_keep, torch.full((2, 6), -1)], dim=1)
    restored = shuffled.gather(1, m.ids_restore)
    assert torch.equal(restored != -1, ~m.hidden)


class PatchTokens(nn.Module):
    def __init__(self, patch_dim: int, num: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(patch_dim, dim)
        self.pos = LearnedPositions(num, dim)

    def forward(self, patches: torch.Tensor) -> Tokens:
        return Tokens.dense(self.proj(patches) + self.pos(patches.shape[1]), "image")


def test_encoder_with_its_own_positions_is_refused() -> None:
    with pytest.raises(ConfigError):
        MaskedPatchModelling(TransformerEncoder(dim=16, depth=1, num_heads=2, positions="learned"), 4, 4)


@pytest.mark.slow
def test_learns_to_reconstruct_digits() -> None:
    torch.manual_seed(0)
    images = torch.tensor(load_digits().images[:512], dtype=torch.float32)[:, None] / 16.0  # [512, 1, 8, 8]
    patches = patchify(images, 2)  # [512, 16, 4]
    tokenizer = PatchTokens(4, 16, 32)
    encoder = TransformerEncoder(dim=32, depth=2, num_heads=4, mlp_ratio=2.0)
    mae = MaskedPatchModelling(
        encoder, 16, 4, mask_ratio=0.5, decoder_dim=32, decoder_depth=1, decoder_heads=4, norm_targets=False
    )
    params = list(tokenizer.parameters()) + list(mae.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3)
    losses = []
    for step in range(150):
        idx = torch.randint(0, 512, (64,))
        out = mae(tokenizer(patches[idx]), patches[idx])
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    start, end = sum(losses[:5]) / 5, sum(losses[-10:]) / 10
    assert out.metrics["mask_ratio"].item() == pytest.approx(0.5)
    assert out.prediction.shape == (64, 16, 4)
    assert end < 0.35 * start, (start, end)
