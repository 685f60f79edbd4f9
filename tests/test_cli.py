"""The ``polymodal`` command line: help for every subcommand, train/eval on the stand-in task, errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from polymodal.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help(name: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: polymodal " + name)


def test_top_level_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("datasets", "train", "eval", "predict", "embed", "convert", "bench"):
        assert name in out


def _tiny(tmp_path: Path) -> Path:
    config = {
        "task": "digits_classifier",
        "output_dir": str(tmp_path / "run"),
        "model": {"dim": 16, "depth": 1, "num_heads": 2},
        "training": {"steps": 6, "batch_size": 16, "threads": 1, "eval_every": 3, "checkpoint": {"best_metric": "accuracy"}},
        "logging": {"log_every": 2, "tensorboard": False, "progress": False},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_with_overrides_then_eval(tmp_path: Path, capsys) -> None:
    assert main(["train", str(_tiny(tmp_path)), "training.steps=4", "optimizer.lr=0.01"]) == 0
    assert "trained 4 steps" in capsys.readouterr().out
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["training"]["steps"] == 4 and saved["optimizer"]["lr"] == 0.01
    assert main(["eval", str(tmp_path / "run")]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["steps"] == 4


def test_bad_override_is_one_clear_line(tmp_path: Path, capsys) -> None:
    assert main(["train", str(_tiny(tmp_path)), "optimizer.lr=-1"]) == 2
    assert capsys.readouterr().err.strip() == "error: optimizer.lr: expected a positive number, got -1"


def test_eval_of_a_missing_run_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["eval", str(tmp_path / "nowhere")]) == 2
    assert "expected a run directory with config.yaml" in capsys.readouterr().err


def test_bench_runs_named_scripts(tmp_path: Path, capsys) -> None:
    (tmp_path / "hello.py").write_text("import sys; print('bench', sys.argv[1:])\n")
    assert main(["bench", "--dir", str(tmp_path), "--quick", "hello"]) == 0
    assert main(["bench", "--dir", str(tmp_path), "absent"]) == 2


def test_python_dash_m_polymodal_runs_the_cli() -> None:
    env = {"PYTHONPATH": str(ROOT / "src")}
    import os

    done = subprocess.run([sys.executable, "-m", "polymodal", "--help"], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "polymodal" in done.stdout


def test_datasets_list_names_the_builtin_datasets(capsys) -> None:
    pytest.importorskip("polymodal.recipes.datasets")
    assert main(["datasets", "list"]) == 0
    assert "digits-av" in capsys.readouterr().out
