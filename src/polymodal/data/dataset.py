"""``ManifestDataset``: manifest samples read by each modality's reader and transformed.

Each item is a plain dict, so that it crosses from data-loader workers cheaply::

    {"id": "s1", "index": 0, "label": 7, "image": <transformed image>, "text": "a handwritten seven"}

``label`` is ``-1`` for an unlabelled sample. Only samples that hold every requested
modality are kept (a manifest may mix image rows and audio rows: ask for ``image`` to get
the image rows). Everything the dataset holds is picklable: readers are the modality
modules' functions and transforms are picklable classes (see ``modalities/base.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset

from polymodal.data.manifest import TEXT_FIELD, Manifest, modality_of
from polymodal.modalities.base import MODALITIES
from polymodal.errors import ConfigError, InputError

__all__ = ["ManifestDataset", "reader_for"]

log = logging.getLogger(__name__)


def _read_text(value: str) -> str:
    # A manifest's text field holds the text itself: nothing to read.
    return value


def reader_for(field: str) -> Callable[[str], Any]:
    """The registered reader of a field's modality (``image`` for ``image:side``); ``text``
    fields pass the manifest's string through."""
    modality = modality_of(field)
    if modality == TEXT_FIELD:
        return _read_text

    return MODALITIES.get(modality, field=f"modalities.{modality}").read


class ManifestDataset(Dataset):
    """A map-style dataset over a manifest's samples.

    Args:
        manifest: a loaded :class:`Manifest`, or the path of a ``.jsonl`` manifest.
        modalities: modality name → transform (a picklable callable ``raw -> sample``), or
            ``None`` to return the reader's raw output (``text``: the string itself), which
            the default collate keeps as a list. Samples missing any of these
            modalities are left out (their count is :attr:`dropped`), unless ``require``
            is ``"any"``.
        split: keep only this split (or these splits).
        classes, on_error: passed to :meth:`Manifest.load` when ``manifest`` is a path.
        readers: modality name → reader (``read(path) -> raw``, picklable), overriding
            the registered modality's reader, or standing in for a modality that is not
            registered in this process.
        require: ``"all"`` keeps the samples that hold every modality; ``"any"`` keeps
            those that hold at least one, and an item's missing modality is ``None``
            (:class:`ManifestCollate` then records which samples hold each modality).

    Raises:
        ConfigError: a modality that is not registered.
        InputError: a file its reader cannot decode, naming the manifest, line and field.
    """

    def __init__(
        self,
        manifest: Manifest | str | Path,
        modalities: Mapping[str, Callable[[Any], Any] | None],
        *,
        split: str | Collection[str] | None = None,
        classes: Sequence[str] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        readers: Mapping[str, Callable[[str], Any]] | None = None,
        require: Literal["all", "any"] = "all",
    ) -> None:
        if not modalities:
            raise ConfigError("modalities", "at least one modality name → transform", dict(modalities))
        if not isinstance(manifest, Manifest):
            manifest = Manifest.load(manifest, classes=classes, on_error=on_error)
        given = dict(readers or {})
        self.readers = {name: given[name] if name in given else reader_for(name) for name in modalities}
        self.transforms = dict(modalities)
        selected = manifest.select(split=split)
        self.manifest = selected.select(modalities=list(modalities), require=require)
        self.dropped = len(selected) - len(self.manifest)
        if self.dropped:
            lack = "one of" if require == "all" else "all of"
            log.info("%s: %d sample(s) lack %s %s and are left out", manifest.path, self.dropped, lack, list(modalities))

    @property
    def classes(self) -> tuple[str, ...] | None:
        return self.manifest.classes

    @property
    def labels(self) -> list[int]:
        """Every kept sample's label (``-1`` when unlabelled), without reading any file."""
        return [-1 if s.label is None else s.label for s in self.manifest]

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.manifest[index]
        item: dict[str, Any] = {"id": sample.id, "index": index, "label": -1 if sample.label is None else sample.label}
        for name, transform in self.transforms.items():
            if name not in sample.inputs:  # only with require="any": this modality is missing
                item[name] = None
                continue
            where = f"{self.manifest.path}, line {sample.line}, field '{name}'"
            try:
                raw = self.readers[name](sample.inputs[name])
            except InputError as err:
                raise InputError(where, err.expected, err.got, hint=err.hint) from err
            except Exception as err:  # a decoder's own error type (PIL, soundfile, numpy)
                raise InputError(where, f"a file the {name} reader can decode", f"{type(err).__name__}: {err}") from err
            item[name] = raw if transform is None else transform(raw)
        return item
