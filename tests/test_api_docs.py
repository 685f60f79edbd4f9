"""Run every ```python block of docs/api.md, in order, in one namespace; and the facade's promises."""

import json
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_api_doc_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_api"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)
    assert (tmp_path / "vision" / "config.json").is_file()


def test_the_facade_is_lazy_and_whole():
    """In a fresh process: ``import polymodal`` imports no subpackage; each attribute loads its own."""
    script = """
import json, sys
import polymodal
before = sorted(m for m in sys.modules if m.startswith("polymodal."))
convert = polymodal.convert.from_huggingface            # no `import polymodal.convert` first
after_convert = "polymodal.convert" in sys.modules and "polymodal.training" not in sys.modules
names = {n: callable(getattr(polymodal, n)) for n in polymodal.__all__ if n not in ("__version__",)}
print(json.dumps({"before": before, "after_convert": after_convert, "names": names, "dir": "load" in dir(polymodal)}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert set(got["before"]) <= {"polymodal._version", "polymodal.errors"}
    assert got["after_convert"] and got["dir"]
    factories = ["load", "from_huggingface", "list_modalities", "get_modality", "list_tokenizers", "build_tokenizer",
                 "list_fusions", "build_fusion", "list_heads", "build_head", "list_objectives", "build_objective", "list_models"]  # fmt: skip
    assert all(got["names"][n] for n in factories)
    for sub in ("modalities", "encoder", "fusion", "heads", "objectives", "models", "checkpoints", "convert", "data",
                "training", "evaluation", "recipes", "registry", "configurable"):  # fmt: skip
        assert sub in got["names"], sub
