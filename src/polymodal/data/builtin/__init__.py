"""Built-in datasets, each built offline from what installed packages ship or a local engine makes.

``build(name, root=None) -> Path`` builds (or reuses) a dataset in the cache;
``list_datasets()`` names them. One file per dataset registers its builder.
"""

from polymodal.data.builtin.base import BUILDERS, MARKER, DatasetBuilder, build, default_root, list_datasets

# Each builder module registers itself on import.
from polymodal.data.builtin import digits_av, tabular, ucr  # noqa: E402,F401  (each registers itself)

__all__ = ["BUILDERS", "MARKER", "DatasetBuilder", "build", "default_root", "list_datasets"]
