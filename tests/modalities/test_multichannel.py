import numpy as np
import pytest
import torch
from modality_checks import check_encoder_gradients, check_tokens
from PIL import Image

from polymodal.errors import InputError
from polymodal.modalities import MODALITIES, TOKENIZERS
from polymodal.modalities.multichannel import MultichannelTransform, collate_multichannel, read_multichannel


def test_tiff_and_npy_cubes_to_encoder(tmp_path):
    rng = np.random.default_rng(0)
    pages = [Image.fromarray(rng.random((32, 32)).astype(np.float32), mode="F") for _ in range(5)]
    pages[0].save(tmp_path / "cube.tif", save_all=True, append_images=pages[1:])
    np.save(tmp_path / "hwc.npy", rng.random((32, 32, 5)).astype(np.float32))
    spec = MODALITIES.get("multichannel")
    cubes = [read_multichannel(tmp_path / "cube.tif"), read_multichannel(tmp_path / "hwc.npy")]
    assert cubes[0].shape == (5, 32, 32)
    transform = spec.transform(channels=5)
    samples = [transform(c) for c in cubes]
    assert samples[1].shape == (5, 32, 32)
    np.testing.assert_allclose(samples[0][2].mean().item(), 0.0, atol=1e-5)
    batch = spec.collate(samples)
    tok = TOKENIZERS.get("mc_patch")(in_channels=5, dim=32, patch_size=8, image_size=32)
    tokens = tok(batch)
    check_tokens(tokens, 2, 16, 32, "multichannel")
    torch.testing.assert_close(tok(batch.pixels).embeddings, tokens.embeddings)  # tensors work too
    check_encoder_gradients(tok, batch)


@pytest.mark.parametrize("channels", [1, 3, 203])
def test_any_channel_count_and_spectral_groups(channels):
    cube = np.random.default_rng(1).random((channels, 16, 16)).astype(np.float32)
    batch = collate_multichannel([MultichannelTransform(channels=channels)(cube)])
    tokens = TOKENIZERS.get("mc_patch")(in_channels=channels, dim=16, patch_size=8, image_size=16)(batch)
    check_tokens(tokens, 1, 4, 16, "multichannel")
    spectral = TOKENIZERS.get("spectral_patch")(in_channels=channels, dim=16, band_group=10, patch_size=8, image_size=16)
    tokens = spectral(batch)
    check_tokens(tokens, 1, -(-channels // 10) * 4, 16, "multichannel")
    check_encoder_gradients(spectral, batch)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow's warning about the broken file
def test_bad_cubes(tmp_path):
    with pytest.raises(InputError, match="4 channels"):
        MultichannelTransform(channels=4)(np.zeros((3, 8, 8)))
    with pytest.raises(InputError, match="finite"):
        MultichannelTransform()(np.full((3, 8, 8), np.inf))
    (tmp_path / "bad.tif").write_bytes(b"II*\x00broken")
    with pytest.raises(InputError, match="bad.tif"):
        read_multichannel(tmp_path / "bad.tif")
    tok = TOKENIZERS.get("mc_patch")(in_channels=200, dim=16, patch_size=8, image_size=16)
    with pytest.raises(InputError, match="200 channels"):
        tok(torch.zeros(1, 199, 16, 16))
