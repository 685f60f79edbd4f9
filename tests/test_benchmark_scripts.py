"""Every benchmark script starts as DESIGN.md's contract says: run from the repository root
as ``python benchmarks/NAME.py`` with ``--quick`` and ``--json FILE`` options.

Running ``--help`` imports each script's dependencies the way a user's run does, which is
where a script named like a package (``benchmarks/tokenizers.py``) would shadow it.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_script_starts_with_quick_and_json_options(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script.relative_to(ROOT)), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout and "--json" in result.stdout
