"""The ``polymodal`` command line: ``datasets | train | eval | predict | embed | convert | bench``.

Each subcommand is one small function registered with its argument parser in
:data:`COMMANDS`; errors that polymodal raises on purpose print as one clear line
(exit status 2) instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from polymodal.errors import PolymodalError

__all__ = ["main", "build_parser"]

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def command(name: str) -> Callable[[Callable[[argparse._SubParsersAction], None]], Callable]:
    """Register a function that adds subcommand ``name`` to the parser."""

    def add(fn: Callable[[argparse._SubParsersAction], None]) -> Callable:
        COMMANDS[name] = fn
        return fn

    return add


def _run_config(run_dir: Path):
    from polymodal.training.tasks import load_config

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise PolymodalError(f"{run_dir}: expected a run directory with config.yaml (made by `polymodal train`)")
    return load_config(path, [f"output_dir={run_dir}"])


def _task_for(run_dir: Path):
    from polymodal.training.tasks import get_task

    config = _run_config(run_dir)
    return get_task(config.task)(config)


def _model_streams(run_dir: Path) -> list[str] | None:
    """The streams (modalities, ``image:side``) the run's exported model reads, when its
    config lists them (``file_classifier``); ``None`` otherwise."""
    path = Path(run_dir) / "model" / "config.json"
    try:
        tokenizers = json.loads(path.read_text(encoding="utf-8")).get("tokenizers")
    except (OSError, ValueError):
        return None
    return sorted(tokenizers) if isinstance(tokenizers, dict) else None


def _route(path: str, streams: Sequence[str] | None, modality: str | None) -> str:
    """The stream a file goes to: ``modality`` when given; else, among the model's streams,
    the one whose reader takes the file (a suffix several read, such as ``.csv`` for tables
    and series, goes to the only stream that reads it, else ``--modality`` must say)."""
    import polymodal.modalities as modalities
    from polymodal.data.manifest import modality_of

    if modality is not None:
        if streams is not None and modality not in streams:
            raise PolymodalError(f"--modality: expected one of the model's streams {', '.join(streams)}, got {modality!r}")
        return modality
    if streams is None:
        return modalities.modality_for_file(path).name
    readers = [s for s in streams if modalities.can_read(modalities.MODALITIES.get(modality_of(s)), path)]
    if len(readers) > 1:  # image and image:side: the bare field is the modality's main one
        readers = [s for s in readers if s == modality_of(s)] or readers
    if len(readers) == 1:
        return readers[0]
    what = "a folder" if Path(path).is_dir() else (Path(path).suffix or "no suffix")
    if not readers:
        raise PolymodalError(f"{path}: expected a file one of the model's streams ({', '.join(streams)}) reads, got {what}")
    raise PolymodalError(f"{path}: expected --modality to choose among the streams that read {what} ({', '.join(readers)})")


def _group_by_modality(
    paths: Sequence[str], streams: Sequence[str] | None = None, modality: str | None = None
) -> dict[str, list[Path]]:
    """Stream → its files, in order. A ``.ts`` archive of many series stands for each of them
    (``FILE.ts#K``); a folder is read by modalities that read folders (video frames)."""
    import polymodal.modalities as modalities
    from polymodal.data.manifest import modality_of

    groups: dict[str, list[Path]] = {}
    for path in paths:
        if not Path(path).is_file() and not Path(path).is_dir():
            raise PolymodalError(f"{path}: expected an existing file (or a folder of video frames)")
        stream = _route(path, streams, modality)
        spec = modalities.MODALITIES.get(modality_of(stream)) if modality_of(stream) in modalities.MODALITIES else None
        if spec is not None and any(str(path).lower().endswith(ext) for ext in spec.archive_extensions):
            groups.setdefault(stream, []).extend(Path(ref) for ref, _ in spec.archive_members(path))
        else:
            groups.setdefault(stream, []).append(Path(path))
    return groups


# --- datasets --------------------------------------------------------------------------------
@command("datasets")
def _datasets(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list or build the built-in offline datasets", description="List or build built-in datasets.")
    actions = p.add_subparsers(dest="action", required=True, metavar="{list,build}")
    actions.add_parser("list", help="list the built-in datasets", description="List the built-in datasets.").set_defaults(func=_datasets_list)
    b = actions.add_parser("build", help="build a dataset into a folder", description="Build a built-in dataset (manifests + files).")
    b.add_argument("name", help="dataset name (see `polymodal datasets list`)")
    b.add_argument("--root", default="data", help="parent folder of the dataset (default: data; the dataset goes to ROOT/NAME)")
    b.add_argument("--force", action="store_true", help="rebuild even if a complete build with the same options exists")
    b.add_argument("option", nargs="*", metavar="key=value", help="builder options, values parsed as YAML (e.g. variants=4)")
    b.set_defaults(func=_datasets_build)


def _datasets_list(args: argparse.Namespace) -> int:
    from polymodal.recipes.datasets import BUILDERS, list_datasets

    for name in list_datasets():
        print(f"{name:12s} {BUILDERS.get(name).description}")
    return 0


def _datasets_build(args: argparse.Namespace) -> int:
    from polymodal.recipes.datasets import build

    options = {}
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = yaml.safe_load(value)
    folder = build(args.name, args.root, force=args.force, **options)
    print(f"{args.name}: {folder}")
    return 0


# --- train -----------------------------------------------------------------------------------
@command("train")
def _train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a run config (torchrun-aware)",
        description="Train the task of a YAML run config into its output_dir. Under torchrun every process "
        "trains its slice of each global batch (DDP: gloo on CPU, NCCL on CUDA).",
        epilog="example: polymodal train configs/digits_av.yaml training.steps=100 optimizer.lr=1e-3",
    )
    p.add_argument("config", help="YAML run config")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides, values parsed as YAML")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in output_dir")
    p.set_defaults(func=_train_run)


def _train_run(args: argparse.Namespace) -> int:
    from polymodal.training import Trainer, load_config
    from polymodal.training.distributed import setup_distributed, teardown_distributed

    config = load_config(args.config, args.overrides)
    info = setup_distributed()
    try:
        result = Trainer(config, resume=args.resume, dist=info).fit()
    finally:
        teardown_distributed()
    if info.is_main:
        resumed = f", resumed from step {result.resumed_from}" if result.resumed_from is not None else ""
        print(f"trained {result.steps} steps in {result.train_seconds:.1f} s{resumed}; final loss {result.final_loss:.4f}; run in {result.run_dir}")
    return 0


# --- eval ------------------------------------------------------------------------------------
@command("eval")
def _eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a finished run: metrics.json, report.md, plots",
        description="Evaluate a finished run; print its figures and write metrics.json, report.md and PNG plots into it.",
    )
    p.add_argument("run_dir", type=Path, help="run directory written by `polymodal train`")
    p.add_argument("--split", help="the data split to evaluate (default: the run config's data.eval_split)")
    p.set_defaults(func=_eval_run)


def _eval_run(args: argparse.Namespace) -> int:
    task = _task_for(args.run_dir)
    figures = task.report(args.run_dir, split=args.split) if args.split else task.report(args.run_dir)
    for key, value in figures.items():
        print(f"{key:28s} {value:.4f}" if isinstance(value, float) else f"{key:28s} {value}")
    return 0


# --- predict / embed -------------------------------------------------------------------------
_MODALITY_HELP = (
    "the model's stream that reads every file (e.g. time_series for an IMU model's .csv files, video for "
    ".npy clips, image:side); default: chosen from each file's suffix among the model's streams"
)

@command("predict")
def _predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict the class of files (modality from the file type)",
        description="Predict a label for each file; the modality is chosen from each file's suffix.",
        epilog="example: polymodal predict runs/digits_av seven.wav digit.png",
    )
    p.add_argument("run_dir", type=Path, help="run directory written by `polymodal train`")
    p.add_argument("files", nargs="+", help="input files (e.g. .wav, .png, .npy, a folder of video frames, a .ts archive)")
    p.add_argument("--modality", help=_MODALITY_HELP)
    p.add_argument("--top", type=int, default=3, help="alternatives to show per file (default 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    p.set_defaults(func=_predict_run)


def _predict_run(args: argparse.Namespace) -> int:
    task = _task_for(args.run_dir)
    for modality, paths in _group_by_modality(args.files, _model_streams(args.run_dir), args.modality).items():
        for pred in task.predict(args.run_dir, modality, paths):
            if args.json:
                print(json.dumps({"file": pred.path, "label": pred.label, "probability": pred.probability, "top": pred.top[: args.top]}))
            else:
                alts = ", ".join(f"{label} {p:.2f}" for label, p in pred.top[1 : args.top])
                print(f"{pred.path}: {pred.label} ({pred.probability:.2f})" + (f"  [{alts}]" if alts else ""))
    return 0


@command("embed")
def _embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="embed files into the model's shared space (.npy)",
        description="Embed each file into the shared space; rows of the .npy follow the order of the files.",
    )
    p.add_argument("run_dir", type=Path, help="run directory written by `polymodal train`")
    p.add_argument("files", nargs="+", help="input files (a .ts archive gives one row per series)")
    p.add_argument("--modality", help=_MODALITY_HELP)
    p.add_argument("--out", required=True, type=Path, help="output .npy file ([len(files), D] float32)")
    p.set_defaults(func=_embed_run)


def _embed_run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    task = _task_for(args.run_dir)
    order: list[Path] = []  # the files in the order given, each archive's series in place
    for f in args.files:
        order.extend(next(iter(_group_by_modality([f], _model_streams(args.run_dir), args.modality).values())))
    groups = _group_by_modality(args.files, _model_streams(args.run_dir), args.modality)
    rows: dict[Path, torch.Tensor] = {}
    for modality, paths in groups.items():
        for path, row in zip(paths, task.embed(args.run_dir, modality, paths)):
            rows[path] = row
    matrix = torch.stack([rows[p] for p in order]).float().numpy()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, matrix)
    print(f"wrote {matrix.shape[0]}×{matrix.shape[1]} embeddings to {args.out}")
    return 0


# --- convert ---------------------------------------------------------------------------------
@command("convert")
def _convert(sub: argparse._SubParsersAction) -> None:
    try:
        from polymodal import convert
    except ImportError:
        p = sub.add_parser("convert", help="convert pretrained weights (not available in this build)", description="Convert pretrained weights into a polymodal model directory.")
        p.add_argument("src")
        p.add_argument("dst")
        p.set_defaults(func=lambda a: _fail("convert: polymodal.convert is not part of this build"))
        return
    convert.add_parser(sub)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


# --- bench -----------------------------------------------------------------------------------
@command("bench")
def _bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="run the scripts in benchmarks/",
        description="Run each benchmarks/NAME.py (or the named ones) with this Python and print their tables.",
    )
    p.add_argument("names", nargs="*", help="benchmark names (default: all)")
    p.add_argument("--quick", action="store_true", help="pass --quick (each script under 60 s)")
    p.add_argument("--dir", type=Path, default=Path("benchmarks"), help="benchmarks folder (default: benchmarks)")
    p.set_defaults(func=_bench_run)


def _bench_run(args: argparse.Namespace) -> int:
    # Files starting with "_" are the scripts' helpers (benchmarks/_paths.py), not benchmarks.
    scripts = sorted(p for p in args.dir.glob("*.py") if not p.name.startswith("_")) if args.dir.is_dir() else []
    if args.names:
        scripts = [s for s in scripts if s.stem in set(args.names)]
        missing = set(args.names) - {s.stem for s in scripts}
        if missing:
            return _fail(f"no benchmark named {', '.join(sorted(missing))} in {args.dir}")
    if not scripts:
        return _fail(f"no benchmark scripts in {args.dir}")
    status = 0
    for script in scripts:
        print(f"== {script}", flush=True)
        status |= subprocess.call([sys.executable, str(script), *(["--quick"] if args.quick else [])])
    return status


# --- entry point -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polymodal",
        description="polymodal: one transformer framework for every modality.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PolymodalError as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
