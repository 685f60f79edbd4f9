"""Tokenizer front-end throughput: filterbank, FPS + kNN against a numpy reference, series.

Run from the repository root: ``.venv/bin/python benchmarks/tokenizers.py [--quick] [--json FILE]``.
Everything runs on one thread (``torch.set_num_threads(1)``) so that the torch figures
compare fairly with single-threaded numpy; ``fps_knn_speedup_all_threads`` repeats the
torch side on every thread torch would use by default. Torch and numpy are measured interleaved in
the same run, median of several repeats.

Figures (``--json`` keys):
- ``fbank_realtime_factor``: seconds of 16 kHz audio through the Kaldi log-Mel filterbank per second (goal ≥ 500);
- ``fps_knn_points_per_s`` / ``fps_knn_numpy_points_per_s`` / ``fps_knn_speedup``: points per second through
  FPS (P → P/4 centres) + kNN (k = 16) at P = 8192, batched torch vs a plain numpy reference
  (per cloud: FPS loop, full distance matrix, argsort) (goal ≥ 20×);
- ``series_per_s``: 3-channel series of 512 steps through transform + collate + PatchTST tokenizer;
- ``import_torch_s`` / ``import_polymodal_extra_s``: seconds to ``import torch``, then what
  ``import polymodal`` adds to it (goal ≤ 0.3 s), each in a fresh process, median of several;
- ``first_registry_lookup_s``: the first ``polymodal.list_modalities()`` and ``list_fusions()``
  after that (they import the built-in modalities and fusion strategies).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import _paths  # noqa: E402,F401  (keeps benchmarks/ from shadowing packages; src/ first)

from polymodal.modalities.audio import kaldi_fbank  # noqa: E402
from polymodal.modalities.point_cloud import farthest_point_sample, gather_points, knn_group  # noqa: E402
from polymodal.modalities.time_series import PatchTSTTokenizer, TimeSeriesTransform, collate_time_series  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def numpy_fps_knn(points: np.ndarray, num_centres: int, k: int) -> np.ndarray:
    """The plain reference: one cloud ``[P, 3]`` at a time."""
    chosen = np.zeros(num_centres, dtype=np.int64)
    nearest = np.full(points.shape[0], np.inf, dtype=points.dtype)
    current = 0
    for i in range(num_centres):
        chosen[i] = current
        nearest = np.minimum(nearest, ((points - points[current]) ** 2).sum(axis=1))
        current = int(nearest.argmax())
    centres = points[chosen]
    dist = ((centres[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    return np.argsort(dist, axis=1)[:, :k]


def torch_fps_knn(points: torch.Tensor, num_centres: int, k: int) -> torch.Tensor:
    index, _ = farthest_point_sample(points, num_centres)
    return knn_group(points, gather_points(points, index), k)


def cpu_timed(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def bench_fbank(repeats: int, seconds: float) -> tuple[float, float]:
    """Real-time factor by wall clock and by this process's CPU time (robust to a busy machine)."""
    wave = torch.from_numpy(np.random.default_rng(0).standard_normal(int(16000 * seconds)).astype(np.float32) * 0.1)
    kaldi_fbank(wave)  # builds and caches the window and mel matrix
    wall = statistics.median(timed(lambda: kaldi_fbank(wave)) for _ in range(repeats))
    cpu = statistics.median(cpu_timed(lambda: kaldi_fbank(wave)) for _ in range(repeats))
    return seconds / wall, seconds / max(cpu, 1e-9)


def bench_fps_knn(repeats: int, clouds: int, points: int = 8192, k: int = 16, threads: int = 1) -> tuple[float, float, float]:
    data = np.random.default_rng(0).random((clouds, points, 3)).astype(np.float32)
    tensor = torch.from_numpy(data)
    s = points // 4
    # The two implementations pick the same centres (checked on the first cloud).
    assert np.array_equal(torch_fps_knn(tensor[:1], s, k)[0, :8].numpy()[:, 0], numpy_fps_knn(data[0], s, k)[:8, 0])
    torch_times, numpy_times, threaded_times = [], [], []
    for _ in range(repeats):  # interleaved so that load changes hit all alike
        torch_times.append(timed(lambda: torch_fps_knn(tensor, s, k)))
        numpy_times.append(timed(lambda: [numpy_fps_knn(c, s, k) for c in data]))
        torch.set_num_threads(threads)
        threaded_times.append(timed(lambda: torch_fps_knn(tensor, s, k)))
        torch.set_num_threads(1)
    total = clouds * points
    return tuple(total / statistics.median(t) for t in (torch_times, numpy_times, threaded_times))


def bench_series(repeats: int, batch: int) -> float:
    rng = np.random.default_rng(0)
    raw = [rng.standard_normal((3, 512)) for _ in range(batch)]
    transform = TimeSeriesTransform(channels=3)
    tokenizer = PatchTSTTokenizer(dim=128, channels=3).eval()

    def run() -> None:
        with torch.no_grad():
            tokenizer(collate_time_series([transform(r) for r in raw]))

    run()
    return batch / statistics.median(timed(run) for _ in range(repeats))


_IMPORT_PROBE = """
import json, time
t0 = time.perf_counter(); import torch
t1 = time.perf_counter(); import polymodal
t2 = time.perf_counter(); polymodal.list_modalities(); polymodal.list_fusions()
t3 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2]))
"""


def bench_import(repeats: int) -> tuple[float, float, float]:
    """Median seconds of ``import torch``, of what ``import polymodal`` adds, and of the
    first registry lookups, each run in a fresh interpreter (nothing cached in-process)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], env=env, capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and clouds (< 60 s on 2 cores)")
    parser.add_argument("--json", type=Path, help="write the figures as one flat JSON object")
    args = parser.parse_args(argv)
    all_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    fbank, fbank_cpu = bench_fbank(repeats * 2, 10.0)
    torch_pps, numpy_pps, threaded_pps = bench_fps_knn(repeats, clouds=4 if args.quick else 8, threads=all_threads)
    series = bench_series(repeats, 256)
    import_torch, import_polymodal, first_lookup = bench_import(repeats + 2)
    figures = {
        "fbank_realtime_factor": round(fbank, 1),
        "fbank_realtime_factor_cpu_time": round(fbank_cpu, 1),
        "fps_knn_points_per_s": round(torch_pps),
        "fps_knn_numpy_points_per_s": round(numpy_pps),
        "fps_knn_speedup": round(torch_pps / numpy_pps, 2),
        "fps_knn_speedup_all_threads": round(threaded_pps / numpy_pps, 2),
        "all_threads": all_threads,
        "series_per_s": round(series, 1),
        "import_torch_s": round(import_torch, 3),
        "import_polymodal_extra_s": round(import_polymodal, 3),
        "first_registry_lookup_s": round(first_lookup, 3),
        "threads": 1,
        "quick": bool(args.quick),
    }
    rows = [
        ("log-Mel fbank (16 kHz, 128 bins)", f"{fbank:,.0f}× real time", "goal ≥ 500×"),
        ("  by CPU time (busy machine)", f"{fbank_cpu:,.0f}× real time", ""),
        ("FPS + kNN, P = 8192 (torch, batched)", f"{torch_pps:,.0f} points/s", ""),
        ("FPS + kNN, P = 8192 (numpy reference)", f"{numpy_pps:,.0f} points/s", ""),
        ("  speed-up torch / numpy", f"{torch_pps / numpy_pps:.1f}×", "goal ≥ 20×"),
        (f"  speed-up with torch on {all_threads} threads", f"{threaded_pps / numpy_pps:.1f}×", ""),
        ("PatchTST series [3, 512] (transform+tokenize)", f"{series:,.0f} series/s", ""),
        ("import torch (fresh process)", f"{import_torch:.3f} s", ""),
        ("  + import polymodal", f"{import_polymodal:.3f} s", "goal ≤ 0.3 s"),
        ("  + first list_modalities/list_fusions", f"{first_lookup:.3f} s", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'tokenizer front end (1 thread)':<{width}}  {'throughput':>22}  target")
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value:>22}  {goal}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
