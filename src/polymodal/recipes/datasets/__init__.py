"""Built-in datasets, each built offline from what installed packages ship or a local engine makes.

``build(name, root=None) -> Path`` builds (or reuses) a dataset in the cache;
``list_datasets()`` names them. One file per dataset registers its builder.
"""

from polymodal.recipes.datasets.base import BUILDERS, MARKER, DatasetBuilder, build, default_root, list_datasets

__all__ = ["BUILDERS", "MARKER", "DatasetBuilder", "build", "default_root", "list_datasets"]
