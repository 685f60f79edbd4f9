"""The ``polymodal`` command line: ``datasets | train | eval | predict | embed | convert | bench``.

Each subcommand is one small function registered with its argument parser in
:data:`COMMANDS`. Every failure prints one line, ``error: <culprit>: expected …, got …``,
and exits non-zero (2; 130 when interrupted), never a traceback: polymodal's own errors,
filesystem errors (named with the path), bad arguments, and anything unexpected (named as
an internal error). ``--debug`` (anywhere on the line) or ``POLYMODAL_DEBUG=1`` shows the
traceback instead, for a developer.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from polymodal.errors import InputError, PolymodalError

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
        got = "no such folder" if not Path(run_dir).exists() else ("a file" if not Path(run_dir).is_dir() else "a folder without config.yaml")
        raise InputError(str(run_dir), "a run directory with config.yaml (made by `polymodal train`)", got)
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



def _inputs(
    files: Sequence[str], streams: Sequence[str] | None, modality: str | None
) -> tuple[list[Path], list[str | None], dict[int, PolymodalError]]:
    """Every input after archives expand in place (a ``.ts`` archive of many series stands for
    each of them, ``FILE.ts#K``; a folder is read by modalities that read folders, such as
    video frames): its path, the stream it goes to (``None`` when it failed) and the errors
    by position. A file that is missing or that no stream reads fails alone."""
    import polymodal.modalities as modalities
    from polymodal.data.manifest import modality_of

    if modality is not None and streams is not None and modality not in streams:
        raise InputError("--modality", f"one of the model's streams {', '.join(streams)}", repr(modality))
    refs: list[Path] = []
    routed: list[str | None] = []
    failed: dict[int, PolymodalError] = {}
    for path in files:
        try:
            if not Path(path).is_file() and not Path(path).is_dir():
                raise InputError(str(path), "an existing file (or a folder of video frames)", "no such file")
            stream = _route(path, streams, modality)
            spec = modalities.MODALITIES.get(modality_of(stream)) if modality_of(stream) in modalities.MODALITIES else None
            if spec is not None and any(str(path).lower().endswith(ext) for ext in spec.archive_extensions):
                members = [Path(ref) for ref, _ in spec.archive_members(path)]
            else:
                members = [Path(path)]
        except PolymodalError as exc:
            failed[len(refs)] = exc
            refs.append(Path(path))
            routed.append(None)
            continue
        refs.extend(members)
        routed.extend([stream] * len(members))
    return refs, routed, failed


def _per_file(run: Callable[[list[Path]], list], paths: list[Path], debug: bool = False) -> tuple[list, dict[int, PolymodalError]]:
    """``run(paths)``, one result per path; when a file's input is bad (:class:`InputError`),
    the list is bisected so that every good file still gets its result and every bad one
    its own error. Errors about the model itself (a damaged checkpoint) stop everything;
    with ``debug`` the first bad file's error does too (to show its traceback)."""
    try:
        return list(run(paths)), {}
    except InputError as exc:
        if len(paths) == 1:
            if debug:
                raise
            return [None], {0: exc}
    half = len(paths) // 2
    left, left_failed = _per_file(run, paths[:half], debug)
    right, right_failed = _per_file(run, paths[half:], debug)
    return left + right, {**left_failed, **{half + i: e for i, e in right_failed.items()}}


def _file_error(path: str, exc: PolymodalError) -> str:
    """A per-file error line that always names the file."""
    text = str(exc)
    return _error_line(text if str(path) in text else f"{path}: {text}")


def _run_files(
    task, method: str, run_dir: Path, files: Sequence[str], modality: str | None = None, debug: bool = False
) -> tuple[list[Path], list, dict[int, PolymodalError]]:
    """``task.<method>`` over ``files`` grouped by the stream each goes to: the expanded inputs
    (:func:`_inputs`), their results, and the errors by position."""
    refs, routed, failed = _inputs(files, _model_streams(run_dir), modality)
    if debug and failed:
        raise failed[min(failed)]
    results: list = [None] * len(refs)
    groups: dict[str, list[int]] = {}
    for index, stream in enumerate(routed):
        if stream is not None:
            groups.setdefault(stream, []).append(index)
    for stream, indices in groups.items():
        paths = [refs[i] for i in indices]
        out, errors = _per_file(lambda chunk, m=stream: getattr(task, method)(run_dir, m, chunk), paths, debug)
        for position, index in enumerate(indices):
            if position in errors:
                failed[index] = errors[position]
            else:
                results[index] = out[position]
    return refs, results, failed


def _error_line(message: str) -> str:
    return "error: " + " ".join(str(message).split())


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

    from polymodal.training.config import load_yaml

    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError("option", "key=value", repr(item))
        options[key] = load_yaml(value, key) if value else ""
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
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue from the newest intact checkpoint in output_dir")
    mode.add_argument(
        "--overwrite", action="store_true",
        help="replace the run in output_dir (kept until the new run has written its first checkpoint)",
    )
    p.set_defaults(func=_train_run)


def _train_run(args: argparse.Namespace) -> int:
    from polymodal.training import Trainer, load_config
    from polymodal.training.distributed import setup_distributed, teardown_distributed

    config = load_config(args.config, args.overrides)
    info = setup_distributed()
    try:
        result = Trainer(config, resume=args.resume, overwrite=args.overwrite, dist=info).fit()
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
    """Writes only the task's report files (``eval.json``, ``eval.md``; a recipe's report and
    plots) and never while a training writes the folder: it holds the run's lock meanwhile."""
    from polymodal.training.run_folder import RunLock

    task = _task_for(args.run_dir)
    with RunLock(args.run_dir):
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
    """One line per file, in the order given: its prediction on stdout, or its error on stderr."""
    task = _task_for(args.run_dir)
    refs, results, failed = _run_files(task, "predict", args.run_dir, args.files, args.modality, args.debug)
    for index, path in enumerate(refs):
        if index in failed:
            line = _file_error(str(path), failed[index])
            if args.json:
                print(json.dumps({"file": str(path), "label": None, "error": line.removeprefix("error: ")}))
            print(line, file=sys.stderr)
            continue
        pred = results[index]
        if args.json:
            print(json.dumps({"file": pred.path, "label": pred.label, "probability": pred.probability, "top": pred.top[: args.top]}))
        else:
            alts = ", ".join(f"{label} {p:.2f}" for label, p in pred.top[1 : args.top])
            print(f"{pred.path}: {pred.label} ({pred.probability:.2f})" + (f"  [{alts}]" if alts else ""))
    return 2 if failed else 0


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
    p.add_argument(
        "--out", required=True, type=Path,
        help="output .npy file ([len(files), D] float32), written only when every file was embedded",
    )
    p.set_defaults(func=_embed_run)


def _embed_run(args: argparse.Namespace) -> int:
    """All rows or none: a matrix whose rows silently skipped a file would not match the file list."""
    import numpy as np
    import torch

    from polymodal._files import atomic_write

    _check_writable(args.out)
    task = _task_for(args.run_dir)
    refs, results, failed = _run_files(task, "embed", args.run_dir, args.files, args.modality, args.debug)
    if failed:
        for index in sorted(failed):
            print(_file_error(str(refs[index]), failed[index]), file=sys.stderr)
        return 2
    matrix = torch.stack(results).float().numpy()
    if not np.isfinite(matrix).all():
        rows = [str(refs[i]) for i in np.flatnonzero(~np.isfinite(matrix).all(axis=1))[:3]]
        raise PolymodalError(
            f"{args.run_dir}/model: expected finite embeddings, got NaN or inf for {', '.join(rows)} "
            "(damaged weights or a diverged run); nothing written"
        )
    atomic_write(args.out, lambda f: np.save(f, matrix))
    print(f"wrote {matrix.shape[0]}×{matrix.shape[1]} embeddings to {args.out}")
    return 0


def _check_writable(path: Path) -> None:
    """Fail before the work when ``path``'s folder cannot take a file (a file in the way, read-only)."""
    parent = Path(path).parent
    if Path(path).is_dir():
        raise InputError(str(path), "a file path to write", "a folder")
    for ancestor in (parent, *parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(ancestor))
            break
    parent.mkdir(parents=True, exist_ok=True)  # OSError (a file in the way, read-only) names the path
    if not os.access(parent, os.W_OK):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(parent))


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
class _Parser(argparse.ArgumentParser):
    """argparse, with a bad command line answered in one ``error:`` line (status 2)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, _error_line(f"{self.prog}: {message} (see {self.prog} --help)") + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="polymodal",
        description="polymodal: one transformer framework for every modality.",
    )
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error (also POLYMODAL_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for add in COMMANDS.values():
        add(sub)
    return parser


def _debug(argv: list[str]) -> tuple[list[str], bool]:
    debug = os.environ.get("POLYMODAL_DEBUG", "").strip().lower() not in ("", "0", "false", "no")
    if "--debug" in argv:
        argv = [a for a in argv if a != "--debug"]
        debug = True
    return argv, debug


_OS_EXPECTED = {
    errno.ENOENT: "an existing path",
    errno.ENOTDIR: "a folder (a file is in the way)",
    errno.EISDIR: "a file (it is a folder)",
    errno.EEXIST: "a path that does not exist yet",
    errno.EACCES: "a path polymodal may write to",
    errno.EPERM: "a path polymodal may write to",
    errno.EROFS: "a writable filesystem",
    errno.ENOSPC: "free space on the disk",
    errno.EDQUOT: "free space in the disk quota",
}


def _os_error_line(exc: OSError) -> str:
    path = exc.filename if exc.filename is not None else "file system"
    expected = _OS_EXPECTED.get(exc.errno or 0, "a usable path")
    return _error_line(f"{path}: expected {expected}, got {exc.strerror or type(exc).__name__}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure is one ``error:`` line and a non-zero exit status."""
    argv, debug = _debug(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    args.debug = debug
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        if isinstance(exc, PolymodalError):
            print(_error_line(str(exc)), file=sys.stderr)
        elif isinstance(exc, OSError) and not isinstance(exc, ImportError):
            print(_os_error_line(exc), file=sys.stderr)
        elif isinstance(exc, MemoryError):
            print("error: memory: expected an input that fits in memory, got MemoryError", file=sys.stderr)
        else:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            print(
                _error_line(
                    f"internal error: expected no {type(exc).__name__} ({exc}) at {Path(where.filename).name}:{where.lineno}; "
                    "please report it with the output of --debug"
                ),
                file=sys.stderr,
            )
        return 2
