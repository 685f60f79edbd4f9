"""Cost of the survey's fusion strategies: parameters, FLOPs, latency and peak memory.

Scenarios (batch 1, width D=768, 12 heads, the ViT-B block):
  1. image + text: 196 image patches (ViT-B/16 at 224²) + 32 text tokens;
  2. audio + image: 1024 audio patches (AST-style spectrogram) + 196 image patches.

Every strategy gets the same budget of L transformer layers along its deepest path
(two-stage strategies split it L/2 + L/2; see DEPTHS), so the FLOP differences come from
what each arrangement attends over, not from depth. FLOPs are counted exactly by
``torch.utils.flop_counter.FlopCounterMode`` (matmuls and SDPA; norms and activations are not
counted). Latency is the median of interleaved repeats (strategy order rotates each round);
peak memory is the largest running total of CPU allocations seen by the PyTorch profiler
during one forward (activations and temporaries, parameters excluded).

    .venv/bin/python benchmarks/fusion.py [--quick] [--json FILE] [--layers L] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from polymodal.fusion import FUSIONS, build_fusion  # noqa: E402
from polymodal.tokens import Tokens  # noqa: E402

STRATEGIES = ["early_sum", "early_concat", "multi_to_one", "one_to_multi", "cross_attention", "cross_to_concat", "late"]

# Depth of each stage for a budget of L layers along the deepest path.
DEPTHS = {
    "early_sum": lambda L: {"depth": L},
    "early_concat": lambda L: {"depth": L},
    "multi_to_one": lambda L: {"modality_depth": L // 2, "shared_depth": L - L // 2},
    "one_to_multi": lambda L: {"shared_depth": L // 2, "modality_depth": L - L // 2},
    "cross_attention": lambda L: {"depth": L},
    "cross_to_concat": lambda L: {"cross_depth": L // 2, "shared_depth": L - L // 2},
    "late": lambda L: {"depth": L},
}

SCENARIOS = {
    "s1": ("image+text", {"image": 196, "text": 32}),
    "s2": ("audio+image", {"audio": 1024, "image": 196}),
}


def make(name: str, lengths: dict[str, int], dim: int, heads: int, layers: int):
    config = {"modalities": sorted(lengths), "dim": dim, "num_heads": heads, **DEPTHS[name](layers)}
    return build_fusion(name, config).eval()


def make_inputs(lengths: dict[str, int], dim: int, batch: int) -> dict[str, Tokens]:
    g = torch.Generator().manual_seed(0)
    return {m: Tokens.dense(torch.randn(batch, n, dim, generator=g), m) for m, n in sorted(lengths.items())}


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    # FlopCounterMode knows the CUDA SDPA kernels but not the CPU one; same formula (QKᵀ and AV).
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def flops_and_peak_memory(fusion, inputs) -> tuple[float, float]:
    """One forward under both counters: exact FLOPs, and the profiler's peak of live CPU allocations."""
    counter = FlopCounterMode(
        display=False, custom_mapping={torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}
    )
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof, counter:
        fusion(inputs)
    # Self allocations (+) and frees (−) in start order; their running total's maximum is the peak.
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    running = peak = 0
    for e in events:
        running += e.self_cpu_memory_usage
        peak = max(peak, running)
    return counter.get_total_flops(), peak / 2**20


def attention_pairs(name: str, lengths: dict[str, int], layers: int, batch: int) -> int:
    """Query·key pairs scored per forward (summed over layers), from a narrow copy's maps."""
    fusion = make(name, lengths, dim=8, heads=1, layers=layers)
    with torch.no_grad():
        out = fusion(make_inputs(lengths, 8, batch), output_attentions=True)
    return sum(m.shape[-1] * m.shape[-2] for maps in out.attentions.values() for m in maps)


def run_scenario(key: str, args) -> tuple[list[dict], dict]:
    label, lengths = SCENARIOS[key]
    fusions = {n: make(n, lengths, args.dim, args.heads, args.layers) for n in STRATEGIES}
    inputs = make_inputs(lengths, args.dim, args.batch)
    rows = {n: {"strategy": n} for n in STRATEGIES}
    for n, f in fusions.items():
        rows[n]["params_m"] = sum(p.numel() for p in f.parameters()) / 1e6
        flops, peak = flops_and_peak_memory(f, inputs)  # also the warm-up run
        rows[n]["gflops"], rows[n]["peak_mb"] = flops / 1e9, peak
        rows[n]["attn_pairs_m"] = attention_pairs(n, lengths, args.layers, args.batch) / 1e6
    times: dict[str, list[float]] = {n: [] for n in STRATEGIES}
    with torch.no_grad():
        for r in range(args.repeats):
            order = STRATEGIES[r % len(STRATEGIES):] + STRATEGIES[: r % len(STRATEGIES)]
            for n in order:
                start = time.perf_counter()
                fusions[n](inputs)
                times[n].append((time.perf_counter() - start) * 1e3)
    for n in STRATEGIES:
        rows[n]["ms"] = statistics.median(times[n])
    figures = {}
    suffix = "" if key == "s1" else "_s2"
    for n, row in rows.items():
        for field in ("gflops", "ms", "params_m", "peak_mb", "attn_pairs_m"):
            figures[f"{n}_{field}{suffix}"] = round(row[field], 4)
    return [rows[n] for n in STRATEGIES], figures


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    header = f"{'strategy':<16} {'params (M)':>10} {'GFLOPs':>8} {'attn pairs (M)':>15} {'latency (ms)':>13} {'peak mem (MB)':>14}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['strategy']:<16} {r['params_m']:>10.1f} {r['gflops']:>8.1f} {r['attn_pairs_m']:>15.3f} "
            f"{r['ms']:>13.1f} {r['peak_mb']:>14.1f}"
        )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 layers, 2 repeats (< 60 s on 2 cores)")
    parser.add_argument("--json", type=Path, help="write the figures as one flat JSON object")
    parser.add_argument("--layers", type=int, help="layer budget L along the deepest path (default 12, ViT-B; quick 2)")
    parser.add_argument("--repeats", type=int, help="timed repeats per strategy (default 7; quick 2)")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--scenarios", default="s1,s2", help="comma-separated: s1 (image+text), s2 (audio+image)")
    args = parser.parse_args(argv)
    args.layers = args.layers or (2 if args.quick else 12)
    args.repeats = args.repeats or (2 if args.quick else 7)
    assert set(STRATEGIES) == set(FUSIONS.names()), "a registered strategy is missing from the benchmark"
    torch.manual_seed(0)
    started = time.perf_counter()
    figures: dict = {"dim": args.dim, "layers": args.layers, "batch": args.batch, "threads": torch.get_num_threads()}
    for key in args.scenarios.split(","):
        label, lengths = SCENARIOS[key]
        rows, found = run_scenario(key, args)
        figures.update(found)
        shape = " + ".join(f"{n} {m}" for m, n in lengths.items())
        print_table(
            f"[{key}] {label}: {shape} tokens, D={args.dim}, L={args.layers} layers, batch {args.batch}, "
            f"median of {args.repeats} interleaved repeats, {torch.get_num_threads()} threads",
            rows,
        )
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1, sort_keys=True))
    return figures


if __name__ == "__main__":
    main()
