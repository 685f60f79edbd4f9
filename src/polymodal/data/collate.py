"""Collating dataset items into one :class:`ManifestBatch`, padding each modality its own way."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from polymodal.data.manifest import TEXT_FIELD, modality_of
from polymodal.modalities.base import MODALITIES
from polymodal.errors import InputError

__all__ = ["ManifestBatch", "ManifestCollate"]


@dataclass
class ManifestBatch:
    """A batch of manifest samples.

    Attributes:
        inputs: modality name → that modality's collated batch (its spec's ``Batch``,
            padded with a mask), or a list of strings for ``text`` when no text modality
            is registered.
        labels: ``[B]`` long class indices, ``-1`` for unlabelled samples.
        ids: the samples' ids.
        indices: ``[B]`` long positions in the dataset.
        present: modality → ``[B]`` bool, which samples hold it, for the modalities that
            some samples lack (a dataset with ``require="any"``); its batch in ``inputs``
            then holds only those samples, in order. A modality no sample holds is left
            out of ``inputs``; one every sample holds is not in ``present``.
    """

    inputs: dict[str, Any]
    labels: Tensor
    ids: list[str]
    indices: Tensor
    present: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: Any) -> ManifestBatch:
        """A copy with labels, indices and every input that has ``.to`` moved to ``device``."""
        inputs = {k: v.to(device) if hasattr(v, "to") else v for k, v in self.inputs.items()}
        present = {k: v.to(device) for k, v in self.present.items()}
        return replace(self, inputs=inputs, labels=self.labels.to(device), indices=self.indices.to(device), present=present)


class ManifestCollate:
    """Collate dataset items: each modality through its registered spec's collate.

    Picklable (a class holding module-level functions), so it runs in workers.

    Args:
        modalities: the modality names to collate, or a dataset's ``{modality: transform}``
            mapping (a ``None`` transform means raw values, kept as a list); each uses
            ``MODALITIES.get(name).collate``, and ``text`` with no registered modality
            becomes a list of strings.
        collates: explicit collate functions by name, overriding the registry.
        raw: names whose items are kept as a plain list (the dataset returned the
            reader's raw output for them, which a spec's collate does not expect).
    """

    def __init__(
        self,
        modalities: Iterable[str],
        collates: Mapping[str, Callable[[Sequence[Any]], Any]] | None = None,
        raw: Iterable[str] = (),
    ) -> None:

        keep_raw = set(raw)
        if isinstance(modalities, Mapping):  # a dataset's {modality: transform}: None means raw
            keep_raw |= {name for name, transform in modalities.items() if transform is None}
        self.collates: dict[str, Callable[[Sequence[Any]], Any] | None] = {}
        for name in modalities:
            if collates is not None and name in collates:
                self.collates[name] = collates[name]
            elif name in keep_raw or (modality_of(name) == TEXT_FIELD and TEXT_FIELD not in MODALITIES):
                self.collates[name] = None
            else:  # a field image:side collates as its modality
                self.collates[name] = MODALITIES.get(modality_of(name), field=f"modalities.{modality_of(name)}").collate

    @classmethod
    def for_transforms(cls, transforms: Mapping[str, Callable[[Any], Any] | None]) -> ManifestCollate:
        """The collate for a dataset's ``{modality: transform}``: untransformed ones stay lists."""
        return cls(transforms, raw=[name for name, transform in transforms.items() if transform is None])

    def __call__(self, items: Sequence[Mapping[str, Any]]) -> ManifestBatch:
        if not items:
            raise InputError("batch", "at least one item", "an empty list")
        inputs, present = {}, {}
        for name, collate in self.collates.items():
            holds = [item[name] is not None for item in items]
            values = [item[name] for item in items if item[name] is not None]
            if not values:
                continue  # no sample of this batch holds the modality
            if not all(holds):
                present[name] = torch.tensor(holds)
            inputs[name] = list(values) if collate is None else collate(values)
        labels = torch.tensor([int(item["label"]) for item in items], dtype=torch.long)
        indices = torch.tensor([int(item["index"]) for item in items], dtype=torch.long)
        return ManifestBatch(inputs, labels, [str(item["id"]) for item in items], indices, present)
