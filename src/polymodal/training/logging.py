"""Run logging: ``metrics.jsonl`` lines, TensorBoard scalars, a tqdm bar, and loss plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from polymodal._files import atomic_write_text
from polymodal._optional import available, require

__all__ = ["MetricsLog", "read_metrics", "plot_losses"]


class MetricsLog:
    """Appends one JSON object per logged step to ``metrics.jsonl`` and mirrors it to TensorBoard.

    On resume, lines after the resumed step are dropped (they belong to the lost future of
    the killed run) and TensorBoard purges its events after that step likewise.
    """

    def __init__(self, run_dir: Path, *, tensorboard: bool | None, resume_step: int = 0) -> None:
        self.path = run_dir / "metrics.jsonl"
        if resume_step > 0 and self.path.exists():
            kept = [line for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines() if _step(line) <= resume_step]
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        elif resume_step == 0 and self.path.exists():
            self.path.unlink()
        self._file = open(self.path, "a")
        self._writer = None
        if tensorboard is None:  # TensorBoard when installed (the 'plots' extra)
            tensorboard = available("tensorboard")
        if tensorboard:
            require("tensorboard", "plots")
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)

    def log(self, step: int, values: dict[str, Any], *, split: str = "train") -> None:
        row = {"step": step, "split": split, **values}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(f"{split}/{key}", value, step)

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()


def _step(line: str) -> float:
    """A metrics line's step; a line a crash cut short (or any unreadable one) counts as past the end."""
    try:
        row = json.loads(line)
        return float(row["step"]) if isinstance(row, dict) else math.inf
    except (ValueError, KeyError, TypeError):
        return math.inf


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl``; lines that do not parse (cut by a crash) are left out."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
    return rows


def plot_losses(run_dir: Path, out: Path) -> Path | None:
    """Training loss (and each named term) against step, as a PNG; None without data or
    without matplotlib (the 'plots' extra)."""
    rows = [r for r in read_metrics(run_dir) if r.get("split") == "train"]
    if not rows or not available("matplotlib"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in rows[-1] if k.startswith("loss")]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in keys:
        ax.plot([r["step"] for r in rows if key in r], [r[key] for r in rows if key in r], label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
