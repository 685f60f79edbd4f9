"""Every CLI command answers bad input with one ``error:`` line and a non-zero exit, never a
traceback, and never changes a run folder it only reads (issue 14, families 3, 6 and 7)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from cli_corpus import folder_digest, train_tiny_run, write_bad, write_good
from polymodal.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, Path]:
    return write_good(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    return write_bad(tmp_path_factory.mktemp("bad"))


def _one_error_line(err: str, *names: str) -> str:
    """The one ``error:`` line of ``err`` (``note:``/``warning:`` lines may precede it), naming each of ``names``."""
    lines = [line for line in err.strip().splitlines() if not line.startswith(("note: ", "warning: "))]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def test_every_bad_file_is_one_error_line_naming_it_and_the_run_is_unchanged(run: Path, bad: dict[str, Path], capsys) -> None:
    before = folder_digest(run)
    for name, path in bad.items():
        assert main(["predict", str(run), str(path)]) == 2, name
        captured = capsys.readouterr()
        assert captured.out == "", (name, captured.out)
        _one_error_line(captured.err, name)
        assert main(["embed", str(run), str(path), "--out", str(run.parent / "e.npy")]) == 2, name
        _one_error_line(capsys.readouterr().err, name)
        assert not (run.parent / "e.npy").exists()
    assert folder_digest(run) == before


def test_no_signal_is_reported_as_such(run: Path, bad: dict[str, Path], capsys) -> None:
    for name in ("silence.wav", "dc.wav", "far_below_speech.wav"):
        main(["predict", str(run), str(bad[name])])
        line = _one_error_line(capsys.readouterr().err, name)
        assert "expected a clip with a signal above -70 dBFS" in line
    main(["predict", str(run), str(bad["truncated_to_a_third.wav"])])
    assert "bytes of audio its header declares" in capsys.readouterr().err
    main(["predict", str(run), str(bad["one_hertz.wav"])])
    assert "sample rate of at least 4000 Hz (AudioTransform.min_sample_rate), got 1 Hz" in capsys.readouterr().err


def test_predict_prints_the_good_files_and_an_error_per_bad_one(run: Path, good, bad, capsys) -> None:
    order = [good["low.wav"], bad["silence.wav"], good["zero.png"], bad["random_bytes.png"], good["high.wav"], bad["missing.wav"]]
    assert main(["predict", str(run), *map(str, order)]) == 2
    out, err = capsys.readouterr()
    assert [line.split(":")[0] for line in out.strip().splitlines()] == [str(good["low.wav"]), str(good["zero.png"]), str(good["high.wav"])]
    errors = err.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("error: ") for e in errors)
    assert [bad[n].name in e for n, e in zip(("silence.wav", "random_bytes.png", "missing.wav"), errors)] == [True] * 3
    # The same good files alone: exit 0 and the same answers.
    assert main(["predict", str(run), *map(str, order[::2])]) == 0
    assert capsys.readouterr().out == out
    assert main(["predict", str(run), "--json", *map(str, order[:2])]) == 2
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["label"] is not None and rows[1]["label"] is None and "dBFS" in rows[1]["error"]


def test_a_model_that_outputs_nan_says_so(run: Path, good, tmp_path: Path, capsys) -> None:
    broken = Path(shutil.copytree(run, tmp_path / "broken"))
    weights = load_file(str(broken / "model" / "model.safetensors"))
    weights = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in weights.items()}
    save_file(weights, str(broken / "model" / "model.safetensors"))
    assert main(["predict", str(broken), str(good["zero.png"])]) == 2
    _one_error_line(capsys.readouterr().err, "model: expected finite class probabilities, got NaN")
    assert main(["embed", str(broken), str(good["zero.png"]), "--out", str(tmp_path / "e.npy")]) == 2
    _one_error_line(capsys.readouterr().err, "expected finite embeddings")
    assert not (tmp_path / "e.npy").exists()


def test_embed_writes_every_row_or_nothing(run: Path, good, bad, tmp_path: Path, capsys) -> None:
    out = tmp_path / "rows.npy"
    assert main(["embed", str(run), str(good["zero.png"]), str(good["low.wav"]), "--out", str(out)]) == 0
    assert np.load(out).shape == (2, 16) and np.isfinite(np.load(out)).all()
    out.unlink()
    assert main(["embed", str(run), str(good["zero.png"]), str(bad["dc.wav"]), "--out", str(out)]) == 2
    assert not out.exists()
    capsys.readouterr()


def test_output_paths_on_the_filesystem_are_named(run: Path, good, tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "a_file").write_text("x")
    assert main(["embed", str(run), str(good["zero.png"]), "--out", str(tmp_path / "a_file" / "e.npy")]) == 2
    _one_error_line(capsys.readouterr().err, str(tmp_path / "a_file"), "expected a folder (a file is in the way)")
    import polymodal._files as files

    for code, words in ((errno.EROFS, "expected a writable filesystem"), (errno.ENOSPC, "expected free space on the disk")):
        def refuse(path, write, binary=True, code=code):
            raise OSError(code, os.strerror(code), str(path))

        monkeypatch.setattr(files, "atomic_write", refuse)
        assert main(["embed", str(run), str(good["zero.png"]), "--out", str(tmp_path / "e.npy")]) == 2
        _one_error_line(capsys.readouterr().err, str(tmp_path / "e.npy"), words)


def test_a_full_disk_during_training_is_one_line_and_an_overwritten_run_survives(run: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    before = folder_digest(copy)
    import polymodal.training.checkpointing as checkpointing

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(copy / "checkpoints"))

    monkeypatch.setattr(checkpointing, "save_file", full)
    config = copy / "config.yaml"
    assert main(["train", str(config), f"output_dir={copy}", "--overwrite"]) == 2
    _one_error_line(capsys.readouterr().err, str(copy / "checkpoints"), "expected free space on the disk")
    assert folder_digest(copy) == before


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_train_refuses_bad_configs_in_one_line_without_touching_the_run(run: Path, tmp_path: Path, capsys) -> None:
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    config = copy / "config.yaml"
    before = folder_digest(copy)
    text = config.read_text()
    cases = {
        "duplicate key": ([str(_write(tmp_path / "dup.yaml", text + "\ntask: manifest_classifier\n"))], "each key once per mapping"),
        "not UTF-8": ([str(_write(tmp_path / "latin.yaml", b"task: caf\xe9\n"))], "expected a UTF-8 text file"),
        "betas": ([str(config), "optimizer.betas=[2,3]"], "optimizer.betas.0: expected a number below 1"),
        "seed": ([str(config), f"training.seed={2**70}"], "training.seed: expected a number below"),
        "tokenizer option": ([str(config), "model.tokenizers.image.options.pach_size=4"], "model.tokenizers.image.options.pach_size: expected an option of PatchTokenizer"),
        "negative size": ([str(config), "data.transforms.image.size=-8"], "data.transforms.image.size: expected a positive integer"),
        "negative mel bins": ([str(config), "data.transforms.audio.num_mel_bins=-2"], "data.transforms.audio.num_mel_bins: expected a positive integer"),
        "NaN mean": ([str(config), "data.transforms.image.mean=[.nan]"], "data.transforms.image.mean: expected finite"),
        "mistyped tokenizer option": ([str(config), "model.tokenizers.image.options.patch_size=big"], "model.tokenizers.image.options.patch_size: expected an integer"),
        "fusion option": ([str(config), "model.fusion_options.depth=-1"], "model.fusion_options.depth: expected a positive integer"),
        "unknown fusion": ([str(config), "model.fusion=nope"], "model.fusion: expected one of"),
        "missing validation split": ([str(config), "data.val_split=dev"], "samples of split 'dev'"),
        "a file as output_dir": ([str(config), f"output_dir={config}"], "which is a file"),
        "fresh into the run": ([str(config)], "expected an empty or new folder"),
        "no such config": ([str(tmp_path / "nope.yaml")], "no such file"),
        "bad override": ([str(config), "optimizer"], "override: expected key.sub=value"),
    }
    for case, (args, words) in cases.items():
        extra = [] if case in ("fresh into the run", "a file as output_dir") else ["--resume"]
        overrides = [] if case in ("a file as output_dir", "no such config") else [f"output_dir={copy}"]
        assert main(["train", *args, *overrides, *extra]) == 2, case
        _one_error_line(capsys.readouterr().err, words)
        assert folder_digest(copy) == before, case


def test_eval_and_convert_answer_bad_input_in_one_line(run: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    for args, words in (
        (["eval", str(tmp_path / "nowhere")], "no such folder"),
        (["eval", str(tmp_path / "empty")], "a folder without config.yaml"),
        (["convert", str(tmp_path / "empty"), str(tmp_path / "out")], "config.json"),
        (["convert", str(run / "model"), str(tmp_path / "out")], "model_type"),
        (["predict", str(tmp_path / "empty"), str(run / "config.yaml")], "config.yaml"),
        (["train"], "the following arguments are required"),
        (["predict", str(run)], "the following arguments are required"),
        (["nonsense"], "invalid choice"),
    ):
        with pytest.raises(SystemExit) if words.startswith(("the following", "invalid")) else _nothing() as info:
            code = main(args)
        code = info.value.code if words.startswith(("the following", "invalid")) else code
        assert code == 2, args
        _one_error_line(capsys.readouterr().err, words)


def test_eval_on_a_damaged_run_is_one_line_and_changes_nothing(run: Path, tmp_path: Path, capsys) -> None:
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    (copy / "model" / "config.json").write_text("{")
    before = folder_digest(copy)
    assert main(["eval", str(copy)]) == 2
    _one_error_line(capsys.readouterr().err, "config.json")
    assert folder_digest(copy) == before


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_debug_shows_the_traceback(run: Path, bad, capsys) -> None:
    from polymodal.errors import NoSignal

    with pytest.raises(NoSignal, match="dBFS"):
        main(["predict", str(run), str(bad["silence.wav"]), "--debug"])
    env = {**os.environ, "POLYMODAL_DEBUG": "1", "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "polymodal", "train", str(ROOT / "configs" / "digits_classifier.yaml"), "optimizer.lr=-1"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode != 0 and "Traceback" in done.stderr and "optimizer.lr" in done.stderr


def test_an_unexpected_exception_is_one_line_naming_it(monkeypatch, capsys) -> None:
    import polymodal.cli as cli

    def boom(args):
        raise ZeroDivisionError("a bug of ours")

    monkeypatch.setattr(cli, "_datasets_list", boom)
    assert main(["datasets", "list"]) == 2
    line = _one_error_line(capsys.readouterr().err, "internal error", "ZeroDivisionError", "--debug")
    assert "a bug of ours" in line


def test_eval_writes_only_its_report_and_never_beside_a_writer(run: Path, tmp_path: Path, capsys) -> None:
    from polymodal.training.run_folder import RunLock

    copy = Path(shutil.copytree(run, tmp_path / "run"))
    before = folder_digest(copy)
    with RunLock(copy):
        assert main(["eval", str(copy)]) == 2
        _one_error_line(capsys.readouterr().err, f"locked by process {os.getpid()}")
    assert folder_digest(copy) == before
    assert main(["eval", str(copy)]) == 0
    after = folder_digest(copy)
    changed = {name for name in set(before) | set(after) if before.get(name) != after.get(name)}
    assert changed == {"eval.json", "eval.md"}
