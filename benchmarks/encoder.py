"""polymodal's encoder vs Hugging Face ``ViTModel`` (SDPA) on the same ViT-B/16 weights.

Both models hold the same randomly initialised ViT-B/16 (converted by polymodal's ViT
converter) and run with the same thread count. Forward passes and training steps (one
AdamW step) are timed interleaved, median of several repeats. The MFU divides the
achieved FLOP/s by this machine's fp32 matmul peak, measured in the same run with a large
``torch.mm``. The compiled rows run both models through
``polymodal.inference.compile_for_inference`` (``torch.compile`` with the weights frozen
in, as a frozen encoder allows); the first, eager rows are the plain modules. The bf16
row runs polymodal's forward under CPU autocast. By default the
process keeps freed memory (``polymodal.allocator.keep_freed_memory``, for both models):
with glibc's defaults every layer's activations page-fault on fresh memory, which costs
about 5 % of the forward (``--allocator default`` measures that way).

    .venv/bin/python benchmarks/encoder.py [--quick] [--json FILE] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

import _paths  # noqa: E402,F401  (keeps benchmarks/ from shadowing packages; src/ first)

from polymodal.allocator import keep_freed_memory  # noqa: E402
from polymodal.convert import from_huggingface  # noqa: E402
from polymodal.inference import compile_for_inference, compiler_available  # noqa: E402


def vit_flops(batch: int, image: int, patch: int, dim: int, depth: int, mlp: int, channels: int = 3) -> float:
    """Multiply-adds × 2 of one ViT forward (matmuls and attention; norms and softmax ignored)."""
    n = (image // patch) ** 2 + 1
    per_layer = 2 * n * dim * 3 * dim + 2 * n * dim * dim + 2 * 2 * n * dim * mlp + 2 * 2 * n * n * dim
    embed = 2 * (n - 1) * channels * patch * patch * dim
    return batch * (depth * per_layer + embed)


def matmul_peak(size: int, repeats: int, device: torch.device) -> float:
    """fp32 FLOP/s of a large square ``torch.mm``: the best of ``repeats``."""
    a, b, c = (torch.empty(size, size, device=device).normal_() for _ in range(3))
    torch.mm(a, b, out=c)
    best = float("inf")
    for _ in range(repeats):  # into one output: the peak of the multiply, not of page faults
        synchronize(device)
        start = CLOCK()
        torch.mm(a, b, out=c)
        synchronize(device)
        best = min(best, CLOCK() - start)
    return 2 * size**3 / best


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU) so that wall time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# The clock that times a call. "cpu" (this process's CPU seconds, all threads, divided by
# the thread count) is steadier than wall time on a machine shared with other jobs.
CLOCK: Callable[[], float] = time.perf_counter


def interleaved(
    fns: dict[str, Callable[[], None]], repeats: int, warmup: int = 1, device: torch.device = torch.device("cpu")
) -> dict[str, float]:
    """Median seconds per call of each function, alternating their order every repeat."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            synchronize(device)
            start = CLOCK()
            fns[name]()
            synchronize(device)
            times[name].append(CLOCK() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batch, few repeats (< 60 s on 2 cores)")
    parser.add_argument("--json", type=Path, help="write the figures as one flat JSON object")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch", type=int, default=None, help="images per step (default 8; 64 on a GPU)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: the same comparison on a GPU")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall",
        help="wall time (default), or process CPU time / threads: steadier on a busy shared machine",
    )
    parser.add_argument(
        "--allocator", choices=["keep-freed", "default"], default="keep-freed",
        help="keep-freed (default): glibc keeps freed memory (polymodal.allocator), as jemalloc or TCMalloc "
        "would, for both models alike; default: glibc's defaults, which page-fault fresh activations every layer",
    )
    parser.add_argument(
        "--no-compile", action="store_true",
        help="skip the compiled forward (it compiles each model once: about 10 s per model on 2 cores)",
    )
    args = parser.parse_args(argv)
    allocator = args.allocator if args.allocator == "default" or keep_freed_memory() else "default (not glibc)"
    global CLOCK
    CLOCK = time.perf_counter if args.clock == "wall" else (lambda: time.process_time() / args.threads)

    import transformers

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    batch = args.batch or (1 if args.quick else 64 if device.type == "cuda" else 8)
    repeats = args.repeats or (3 if args.quick else 7)
    image, patch, dim, depth, mlp = 224, 16, 768, 12, 3072

    config = transformers.ViTConfig(
        hidden_size=dim, num_hidden_layers=depth, num_attention_heads=12, intermediate_size=mlp,
        image_size=image, patch_size=patch, attn_implementation="sdpa",
    )
    hf = transformers.ViTModel(config, add_pooling_layer=False)
    hf.config._attn_implementation = "sdpa"
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp)
        ours = from_huggingface(tmp)
    ours, hf = ours.to(device), hf.to(device)
    pixels = torch.randn(batch, 3, image, image, device=device)
    with torch.no_grad():
        diff = (ours.encode_image(pixels[:1]) - hf(pixel_values=pixels[:1]).last_hidden_state[:, 0]).abs().max().item()

    peak = matmul_peak(2048 if args.quick else 8192 if device.type == "cuda" else 4096, 10 if device.type == "cuda" else 3, device)
    flops = vit_flops(batch, image, patch, dim, depth, mlp)

    # Forward, fp32, inference mode (both models in eval).
    ours.eval(), hf.eval()

    def ours_forward() -> None:
        with torch.inference_mode():
            ours(pixels)

    def hf_forward() -> None:
        with torch.inference_mode():
            hf(pixel_values=pixels)

    fwd = interleaved({"polymodal": ours_forward, "transformers": hf_forward}, repeats, device=device)

    # Forward, fp32, compiled with frozen weights: the same treatment for both models.
    compiled: dict[str, float] = {}
    if not args.no_compile and not compiler_available(device):
        print(f"(no compiled rows: torch.compile cannot build kernels for {device.type} here)")
    elif not args.no_compile:
        ours_c = compile_for_inference(copy.deepcopy(ours))
        hf_c = compile_for_inference(copy.deepcopy(hf))
        compiled = interleaved(
            {"polymodal": lambda: ours_c(pixels), "transformers": lambda: hf_c(pixel_values=pixels)}, repeats,
            warmup=2, device=device,  # the first call compiles
        )
        with torch.no_grad():
            diff_c = (ours_c(pixels).hidden - hf(pixel_values=pixels).last_hidden_state).abs().max().item()
        del ours_c, hf_c

    # One training step: forward, a loss on the pooled CLS, backward, AdamW.
    ours.train(), hf.train()
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-5)
    opt_hf = torch.optim.AdamW(hf.parameters(), lr=1e-5)

    def ours_step() -> None:
        loss = ours(pixels).pooled.pow(2).mean()
        loss.backward()
        opt_ours.step()
        opt_ours.zero_grad(set_to_none=True)

    def hf_step() -> None:
        loss = hf(pixel_values=pixels).last_hidden_state[:, 0].pow(2).mean()
        loss.backward()
        opt_hf.step()
        opt_hf.zero_grad(set_to_none=True)

    train = interleaved({"polymodal": ours_step, "transformers": hf_step}, 2 if args.quick else repeats, device=device)

    # bf16 autocast forward vs fp32 forward, polymodal only, interleaved.
    ours.eval()

    def ours_bf16() -> None:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
            ours(pixels)

    hf.eval()

    def hf_bf16() -> None:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
            hf(pixel_values=pixels)

    bf16 = interleaved({"fp32": ours_forward, "bf16": ours_bf16, "hf_fp32": hf_forward, "hf_bf16": hf_bf16}, repeats, device=device)

    results = {
        "batch": batch,
        "threads": args.threads,
        "device": str(device),
        "clock": args.clock,
        "allocator": allocator,
        "max_abs_diff": diff,
        "forward_images_per_s": batch / fwd["polymodal"],
        "forward_images_per_s_transformers": batch / fwd["transformers"],
        "forward_ratio": fwd["transformers"] / fwd["polymodal"],
        "train_images_per_s": batch / train["polymodal"],
        "train_images_per_s_transformers": batch / train["transformers"],
        "train_ratio": train["transformers"] / train["polymodal"],
        "matmul_peak_gflops": peak / 1e9,
        "mfu": flops / fwd["polymodal"] / peak,
        "mfu_transformers": flops / fwd["transformers"] / peak,
        "train_mfu": 3 * flops / train["polymodal"] / peak,
        "bf16_speedup": bf16["fp32"] / bf16["bf16"],
        "bf16_images_per_s": batch / bf16["bf16"],
        "bf16_images_per_s_transformers": batch / bf16["hf_bf16"],
        "bf16_speedup_transformers": bf16["hf_fp32"] / bf16["hf_bf16"],
    }
    if compiled:
        results.update({
            "compiled_max_abs_diff": diff_c,
            "compiled_forward_images_per_s": batch / compiled["polymodal"],
            "compiled_forward_images_per_s_transformers": batch / compiled["transformers"],
            "compiled_forward_ratio": compiled["transformers"] / compiled["polymodal"],
            "compiled_speedup": fwd["polymodal"] / compiled["polymodal"],
            "mfu_compiled": flops / compiled["polymodal"] / peak,
            "mfu_compiled_transformers": flops / compiled["transformers"] / peak,
        })
    print(
        f"ViT-B/16 on {device}, batch {batch} at {image} px, {args.threads} threads, median of {repeats} interleaved repeats, "
        f"{args.clock} clock, allocator {allocator}"
    )
    print(f"max |polymodal - transformers| on the pooled CLS: {diff:.2e}")
    print(f"fp32 matmul peak (torch.mm): {peak / 1e9:.1f} GFLOP/s; forward = {flops / 1e9:.1f} GFLOP")
    print(f"{'':28}{'polymodal':>12}{'transformers':>14}{'ratio':>8}")
    print(f"{'forward images/s (fp32)':28}{results['forward_images_per_s']:12.2f}{results['forward_images_per_s_transformers']:14.2f}{results['forward_ratio']:8.2f}")
    if compiled:
        print(f"{'forward images/s (compiled)':28}{results['compiled_forward_images_per_s']:12.2f}{results['compiled_forward_images_per_s_transformers']:14.2f}{results['compiled_forward_ratio']:8.2f}")
    print(f"{'train step images/s':28}{results['train_images_per_s']:12.2f}{results['train_images_per_s_transformers']:14.2f}{results['train_ratio']:8.2f}")
    print(f"{'forward MFU':28}{results['mfu']:12.2f}{results['mfu_transformers']:14.2f}")
    if compiled:
        print(f"{'forward MFU (compiled)':28}{results['mfu_compiled']:12.2f}{results['mfu_compiled_transformers']:14.2f}")
    print(f"{'bf16 autocast images/s':28}{results['bf16_images_per_s']:12.2f}{results['bf16_images_per_s_transformers']:14.2f}{results['bf16_images_per_s'] / results['bf16_images_per_s_transformers']:8.2f}")
    print(f"{'bf16 speed-up over fp32':28}{results['bf16_speedup']:11.2f}x{results['bf16_speedup_transformers']:13.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
