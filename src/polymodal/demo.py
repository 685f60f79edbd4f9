"""`make demo`: a small end-to-end run (replaced by the main job once it lands)."""

import torch

from polymodal import Tokens
from polymodal.encoder import TransformerEncoder


def main() -> None:
    encoder = TransformerEncoder(dim=64, depth=2, num_heads=4).eval()
    tokens = Tokens.from_list([torch.randn(5, 64), torch.randn(3, 64)], "demo")
    out = encoder(tokens)
    print(f"encoded {tokens} -> pooled {list(out.pooled.shape)}")


if __name__ == "__main__":
    main()
