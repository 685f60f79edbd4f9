"""Import first in every benchmark script: ``import _paths  # noqa: F401``.

``python benchmarks/NAME.py`` puts ``benchmarks/`` first on ``sys.path``, where
``benchmarks/tokenizers.py`` would shadow the Hugging Face ``tokenizers`` package that
polymodal's text modality imports. This takes the folder off the path again and puts the
checkout's ``src/`` first, so a script measures this tree's code.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent / "src"))
