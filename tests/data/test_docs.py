"""The examples of docs/data.md run, in order, in one namespace (so that the page cannot drift)."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"


@pytest.mark.slow  # builds three datasets: 1–15 s depending on how busy the machine is
def test_data_md_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the default cache goes under the temporary HOME
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 4
    namespace: dict = {"__name__": "docs_data_md"}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"docs/data.md (python block {number})", "exec"), namespace)
