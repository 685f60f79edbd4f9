"""The progress bar in a log file (stderr not a terminal): a few redraws, not one a second."""

from .conftest import run_cli, write_config


def test_progress_bar_redraws_rarely_when_stderr_is_a_file(tmp_path, tiny):
    config = tiny(training={"steps": 400, "batch_size": 32, "seed": 1, "threads": 1}, logging={"progress": True})
    result = run_cli("train", str(write_config(tmp_path / "config.yaml", config)))
    assert result.returncode == 0, result.stderr
    redraws = [line for line in result.stderr.replace("\r", "\n").splitlines() if "step/s" in line or "it/s" in line]
    # The first draw, the 400/400 at the end and its close; a 1 s refresh gave one per second.
    assert 1 <= len(redraws) <= 4, redraws
    assert "400/400" in redraws[-1]
