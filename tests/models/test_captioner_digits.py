"""A real caption task: scikit-learn's 8×8 handwritten digits, captioned "a handwritten seven"."""

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from polymodal.encoder import LearnedPositions, TransformerEncoder
from polymodal.models import Captioner, CaptionerConfig, WordVocabulary
from polymodal.tokens import Tokens

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


class DigitEncoder(nn.Module):
    """A small convolution stem to 4×4 tokens with learned positions, then a transformer encoder.

    (A plain linear patch embedding learns this task more slowly; notes/digits-av-prototype.md
    found the same for the main demo.)
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.GELU(), nn.Conv2d(32, dim, 2, stride=2))
        self.pos = LearnedPositions(16, dim)
        self.encoder = TransformerEncoder(dim=dim, depth=2, num_heads=4, mlp_ratio=2.0)

    def forward(self, images: torch.Tensor) -> Tokens:
        patches = self.stem(images).flatten(2).transpose(1, 2)  # [B, 16, D]
        return self.encoder(Tokens.dense(patches + self.pos(16), "image")).tokens("image")


@pytest.mark.slow
def test_captions_held_out_digits() -> None:
    torch.manual_seed(0)
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0  # [1797, 1, 8, 8]
    captions = [f"a handwritten {WORDS[y]}" for y in digits.target]
    vocab = WordVocabulary.from_texts(captions)
    ids = vocab.encode_batch(captions)  # [1797, 5]
    order = torch.randperm(len(captions))
    train, test = order[:1400], order[1400:]

    dim = 64
    encoder = DigitEncoder(dim)
    captioner = Captioner(CaptionerConfig(vocab_size=len(vocab), dim=dim, depth=2, num_heads=4, mlp_ratio=2.0, max_length=8))
    params = list(encoder.parameters()) + list(captioner.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    for step in range(300):
        batch = train[torch.randint(0, len(train), (64,))]
        out = captioner(encoder(images[batch]), ids[batch])
        opt.zero_grad()
        out.loss.backward()
        opt.step()

    encoder.eval()
    with torch.no_grad():
        context = encoder(images[test])
    greedy = vocab.decode_batch(captioner.generate(context, strategy="greedy", max_new_tokens=6).tokens)
    beam = vocab.decode_batch(captioner.generate(context, strategy="beam", num_beams=3, max_new_tokens=6).tokens)
    truth = [captions[i] for i in test.tolist()]
    greedy_acc = sum(p == t for p, t in zip(greedy, truth)) / len(truth)
    beam_acc = sum(p == t for p, t in zip(beam, truth)) / len(truth)
    assert greedy_acc >= 0.8, (greedy_acc, greedy[:5], truth[:5])
    assert beam_acc >= 0.8, (beam_acc, beam[:5], truth[:5])
