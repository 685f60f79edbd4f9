"""Zero-shot logits of a converted CLIP equal ``transformers.CLIPModel``'s ``logits_per_image``.

Needs ``polymodal.convert.from_huggingface(dir)`` (the foundation engineer's CLIP
converter); skipped until that module exists.
"""

import string

import pytest
import torch

transformers = pytest.importorskip("transformers")
convert = pytest.importorskip("polymodal.convert")

from polymodal.evaluation import ZeroShotClassifier  # noqa: E402

CLASSES = ["cat", "dog", "car", "tree", "boat"]
TEMPLATE = "a photo of a {}."


def _tiny_clip_dir(path) -> None:
    """A small random CLIPModel with a character-level CLIP tokenizer, saved as HF does."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase + ".":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[])
    config = transformers.CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=32,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        ),
        vision_config=dict(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
        ),
        projection_dim=16,
    )
    torch.manual_seed(0)
    model = transformers.CLIPModel(config).eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        path
    )


def test_zero_shot_logits_match_transformers_clip(tmp_path) -> None:
    _tiny_clip_dir(tmp_path)
    hf = transformers.CLIPModel.from_pretrained(tmp_path).eval()
    tokenizer = transformers.CLIPTokenizer.from_pretrained(tmp_path)
    ours = convert.from_huggingface(tmp_path)
    if hasattr(ours, "eval"):
        ours.eval()

    images = torch.randn(3, 3, 32, 32)
    prompts = [TEMPLATE.format(c) for c in CLASSES]
    text = tokenizer(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = hf(input_ids=text["input_ids"], attention_mask=text["attention_mask"], pixel_values=images)
    classifier = ZeroShotClassifier(ours, CLASSES, templates=[TEMPLATE], modality="image")
    logits = classifier(images)
    assert logits.shape == (3, len(CLASSES))
    torch.testing.assert_close(logits, expected.logits_per_image, atol=1e-5, rtol=0)
    assert torch.equal(classifier.predict(images), expected.logits_per_image.argmax(-1))
