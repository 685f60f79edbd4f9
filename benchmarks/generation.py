"""Cached vs uncached beam search in polymodal's Captioner: tokens per second and their ratio.

A caption decoder of realistic small size (6 layers, D=512, 8 heads, 8k words) cross-attends
to 50 context tokens (a ViT-B/32's 7×7 patches + CLS) and runs beam search with 4 beams.
The end token is disabled so every run generates exactly L tokens (L = 32 and 128).
With the KV cache each step processes one new token per beam and reuses the context's
keys and values; without it every step recomputes the whole prefix and the context's
projections. The two paths run interleaved, and the figures are medians of the repeats.

    .venv/bin/python benchmarks/generation.py [--quick] [--json FILE]

``--json`` writes ``cached_speedup_32`` and ``cached_speedup_128`` (and the tokens/s).
``--quick`` keeps the same model and lengths with fewer repeats (under a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

# benchmarks/tokenizers.py would shadow the `tokenizers` package that polymodal imports.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent / "src"))

from polymodal.models import Captioner, CaptionerConfig  # noqa: E402
from polymodal.tokens import Tokens  # noqa: E402


def build(dim: int, depth: int, vocab: int, batch: int = 1) -> tuple[Captioner, Tokens]:
    torch.manual_seed(0)
    model = Captioner(
        CaptionerConfig(vocab_size=vocab, dim=dim, depth=depth, num_heads=8, max_length=128)
    ).eval()
    context = Tokens.dense(torch.randn(batch, 50, dim), "image")
    return model, context


def time_once(model: Captioner, context: Tokens, length: int, beams: int, use_cache: bool) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = model.generate(
        context, strategy="beam", num_beams=beams, max_new_tokens=length, use_end_token=False, use_cache=use_cache
    )
    return time.perf_counter() - start, out.tokens


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under a minute on 2 cores)")
    parser.add_argument("--json", type=Path, help="write the figures as one flat JSON object")
    parser.add_argument("--repeats", type=int, help="timed runs per path and length (default 3, quick 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steady on a shared machine)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1, help="images captioned at once (1: latency case)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 3)
    model, context = build(args.dim, args.depth, vocab=8000, batch=args.batch)
    time_once(model, context, 4, args.beams, True)  # warm-up: allocator, kernels
    time_once(model, context, 4, args.beams, False)

    figures: dict[str, float] = {}
    rows = []
    for length in (32, 128):
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(repeats):
            for use_cache in (True, False):  # interleaved, so load changes hit both paths alike
                seconds, tokens = time_once(model, context, length, args.beams, use_cache)
                times[use_cache].append(seconds)
                if use_cache:
                    cached_tokens = tokens
                else:
                    # The two paths must agree, or the comparison means nothing.
                    assert torch.equal(tokens, cached_tokens), "cached and uncached beams differ"
        cached, uncached = statistics.median(times[True]), statistics.median(times[False])
        generated = length * args.beams * args.batch  # tokens the decoder produces per run (all beams)
        figures[f"cached_tokens_per_s_{length}"] = generated / cached
        figures[f"uncached_tokens_per_s_{length}"] = generated / uncached
        figures[f"cached_speedup_{length}"] = uncached / cached
        rows.append((length, generated / cached, generated / uncached, uncached / cached))

    print(
        f"Captioner beam search: {args.depth} layers, D={args.dim}, {args.beams} beams, batch {args.batch}, "
        f"50 context tokens, {torch.get_num_threads()} thread(s), median of {repeats}"
    )
    print(f"{'length':>6}  {'cached tok/s':>12}  {'uncached tok/s':>14}  {'speedup':>7}")
    for length, fast, slow, ratio in rows:
        print(f"{length:>6}  {fast:>12.1f}  {slow:>14.1f}  {ratio:>6.1f}x")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
