"""Run every ```python block of docs/objectives.md, in order, in one namespace, so the examples cannot drift."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "objectives.md"


def test_objectives_doc_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 8
    namespace: dict = {"__name__": "docs_objectives"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)
