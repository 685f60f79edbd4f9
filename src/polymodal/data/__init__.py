"""Data: JSONL manifests of samples that point at files, datasets, collation and resumable loaders.

- :class:`Manifest` / :class:`ManifestSample`: read and validate a ``manifest.jsonl``.
- :class:`ManifestDataset`: each sample's files read by its modality's reader and transformed.
- :class:`ManifestCollate` / :class:`ManifestBatch`: per-modality padding, stacked labels.
- :func:`build_loader` / :class:`ResumableLoader` / :class:`ResumableSampler`: seeded,
  DDP-sharded loading whose position survives a restart.
- :mod:`polymodal.recipes.datasets`: ``build(name)`` and ``list_datasets()`` for the offline datasets.
"""

from polymodal.data.collate import ManifestBatch, ManifestCollate
from polymodal.data.dataset import ManifestDataset
from polymodal.data.loader import ResumableLoader, build_loader
from polymodal.data.manifest import Manifest, ManifestSample, read_classes
from polymodal.data.sampler import ResumableSampler

__all__ = [
    "Manifest",
    "ManifestBatch",
    "ManifestCollate",
    "ManifestDataset",
    "ManifestSample",
    "ResumableLoader",
    "ResumableSampler",
    "build_loader",
    "read_classes",
]
