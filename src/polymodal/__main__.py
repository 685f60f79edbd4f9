"""``python -m polymodal``: the command line (also what ``torchrun -m polymodal`` starts)."""

import sys

from polymodal.cli import main

sys.exit(main())
