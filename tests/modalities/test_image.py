import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.errors import ConfigError, InputError
from polymodal.modalities import MODALITIES, TOKENIZERS, modality_for_file
from polymodal.modalities.image import ImageBatch, ImageTransform, PatchTokenizer, collate_images, read_image


@pytest.mark.parametrize(
    ("mode", "array", "channels", "peak"),
    [
        ("L", np.full((6, 5), 255, np.uint8), 1, 1.0),
        ("RGB", np.full((6, 5, 3), 51, np.uint8), 3, 0.2),
        ("RGBA", np.full((6, 5, 4), 255, np.uint8), 4, 1.0),
        ("I;16", np.full((6, 5), 65535, np.uint16), 1, 1.0),
    ],
)
def test_read_image_modes(tmp_path, mode, array, channels, peak):
    path = tmp_path / "img.png"
    Image.fromarray(array, mode=mode if mode != "I;16" else None).save(path)
    image = read_image(path)
    assert image.dtype == torch.float32 and image.shape == (channels, 6, 5)
    assert image.min() >= 0 and abs(float(image.max()) - peak) < 1e-6


def test_read_palette_and_multipage(tmp_path):
    Image.new("P", (4, 3)).save(tmp_path / "p.gif")
    assert read_image(tmp_path / "p.gif").shape[0] in (3, 4)
    pages = [Image.fromarray(np.full((4, 4), i * 20, np.uint8)) for i in range(5)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    stack = read_image(tmp_path / "stack.tif")
    assert stack.shape == (5, 4, 4)
    assert torch.allclose(stack[:, 0, 0], torch.tensor([i * 20 / 255 for i in range(5)]))


def test_unreadable_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="bad.png"):
        read_image(tmp_path / "bad.png")


def test_transform_resizes_crops_and_normalises():
    transform = ImageTransform(size=8, crop=8, mean=0.5, std=0.25, resize="shortest")
    out = transform(torch.full((1, 16, 32), 0.75))
    assert out.shape == (1, 8, 8)
    torch.testing.assert_close(out, torch.ones(1, 8, 8))
    rgb = ImageTransform(size=(10, 12), crop=None, resize="exact")(torch.rand(3, 20, 20))
    assert rgb.shape == (3, 10, 12)
    clone = pickle.loads(pickle.dumps(transform))
    assert clone.config() == transform.config() == ImageTransform.from_config(transform.config()).config()
    assert ImageTransform(size=4, crop=4)(torch.full((3, 4, 4), 255, dtype=torch.uint8)).shape == (3, 4, 4)


def test_transform_errors():
    with pytest.raises(InputError, match="channels"):
        ImageTransform(size=4, crop=None)(torch.rand(2, 4, 4))  # 3 statistics, 2 channels
    with pytest.raises(InputError, match="float"):
        ImageTransform(size=4)(torch.ones(3, 4, 4, dtype=torch.int32))
    with pytest.raises(ConfigError):
        ImageTransform(resize="stretch")


@pytest.mark.parametrize("channels", [1, 3, 202])
def test_patch_tokenizer_any_channel_count(channels):
    tok = PatchTokenizer(channels, dim=16, patch_size=4, image_size=16)
    tokens = tok(ImageBatch(torch.randn(2, channels, 16, 16)))
    assert tokens.embeddings.shape == (2, 16, 16) and tokens.mask.all() and tokens.modality == "image"


def test_patch_tokenizer_interpolates_positions_for_other_sizes():
    tok = PatchTokenizer(3, dim=8, patch_size=4, image_size=16, norm=True)
    tokens = tok(torch.randn(1, 3, 24, 32))
    assert tokens.embeddings.shape == (1, 6 * 8, 8)
    same = PatchTokenizer(3, dim=8, patch_size=4, image_size=16, positions=False)
    assert same(torch.randn(1, 3, 8, 8)).embeddings.shape == (1, 4, 8)


def test_patch_tokenizer_input_errors():
    tok = PatchTokenizer(3, dim=8, patch_size=4, image_size=16)
    with pytest.raises(InputError, match=r"\[B, C, H, W\]"):
        tok(torch.randn(3, 16, 16))
    with pytest.raises(InputError, match="3 channels"):
        tok(torch.randn(1, 4, 16, 16))
    with pytest.raises(InputError, match="float"):
        tok(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(InputError, match="divisible"):
        tok(torch.randn(1, 3, 18, 16))
    with pytest.raises(InputError, match="one shape"):
        collate_images([torch.rand(3, 4, 4), torch.rand(3, 5, 4)])


def test_registered():
    assert MODALITIES.get("image").default_tokenizer == "patch"
    assert TOKENIZERS.get("patch") is PatchTokenizer
    assert modality_for_file("scan.TIFF").name == "image"
