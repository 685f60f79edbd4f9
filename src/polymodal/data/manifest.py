"""JSONL manifests: one sample per line, each pointing at its files.

A line looks like::

    {"id": "s1", "image": "img/1.png", "audio": "wav/1.wav", "text": "a handwritten seven",
     "label": 7, "split": "train", "meta": {"writer": 12}}

Fields:
- ``id`` (required): a string (or integer) unique in the manifest.
- ``split`` (optional): ``"train"``, ``"test"``, ... ; :meth:`Manifest.load` can keep one.
- ``label`` (optional): a class index (int) or a class name (str). The class list comes
  from the ``classes`` argument, else a ``classes.json`` beside the manifest (a list of
  names, or an object with a ``"classes"`` list), else the sorted names that occur.
- one field per modality registered in :data:`~polymodal.modalities.MODALITIES`: a path
  resolved against the manifest's folder (absolute paths are kept); a folder for a modality
  whose reader takes one (a video's frames). ``text`` is always known and holds the text
  itself, not a path.
- several fields of one modality: ``<modality>:<name>`` (``image`` and ``image:side``, two
  IMUs as ``time_series:wrist`` and ``time_series:ankle``). Each field is a stream of its
  own (its transform, its tokenizer); its files are that modality's. The separator is a
  colon because config overrides address keys with dots (``data.transforms.image:side.size=64``).
- a field may point at an **archive** of its modality that holds many samples (a UEA/UCR
  ``.ts`` file for ``time_series``): the line then stands for one sample per case, with
  ids ``<id>#<k>``, the archive's class labels, and the line's split and meta. Such a line
  holds that one field only.
- ``meta`` (optional): an object of free-form metadata (voice, source index, ...), kept
  as it is; every other field is refused so that typos do not pass silently.

Every problem raises :class:`~polymodal.errors.InputError` naming the manifest, the line
and the field; with ``on_error="skip"`` the line is skipped, counted in
:attr:`Manifest.skipped` and logged instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from polymodal.modalities.base import MODALITIES
from polymodal.errors import InputError

__all__ = ["CLASSES_FILE", "FIELD_SEPARATOR", "TEXT_FIELD", "Manifest", "ManifestSample", "known_fields", "modality_of", "read_classes"]

log = logging.getLogger(__name__)

TEXT_FIELD = "text"  # holds the text itself, so it is known even before a text modality registers
CLASSES_FILE = "classes.json"
_RESERVED = ("id", "split", "label", "meta")
FIELD_SEPARATOR = ":"
_FIELD_NAME = re.compile(r"[A-Za-z0-9_-]+")


def modality_of(field: str) -> str:
    """The modality of a manifest field: ``image`` for ``image`` and ``image:side``."""
    return field.partition(FIELD_SEPARATOR)[0]


@dataclass(frozen=True)
class ManifestSample:
    """One validated manifest line.

    Attributes:
        id: the sample's unique id.
        inputs: modality name → absolute file path (as a string), or the text itself for ``text``.
        label: class index into :attr:`Manifest.classes`, or ``None`` when unlabelled.
        split: the split name, or ``None``.
        meta: the line's ``meta`` object (empty when absent).
        line: 1-based line number in the manifest, for error messages.
    """

    id: str
    inputs: Mapping[str, str]
    label: int | None = None
    split: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0

    def has(self, modalities: Iterable[str]) -> bool:
        """Whether the sample holds every one of ``modalities``."""
        return all(m in self.inputs for m in modalities)


def known_fields() -> list[str]:
    """The field names a manifest line may use: reserved ones, ``text`` and every registered modality."""

    return sorted({*_RESERVED, TEXT_FIELD, *MODALITIES.names()})


def read_classes(path: str | Path) -> list[str]:
    """Class names from a ``classes.json``: a list of names or ``{"classes": [...]}``."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(str(path), "a readable JSON file of class names", f"{type(err).__name__}: {err}") from None
    if isinstance(value, Mapping):
        value = value.get("classes")
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value) or len(set(value)) != len(value):
        raise InputError(f"{path}: classes", "a list of distinct class names (strings)", value)
    return value


class _LineError(Exception):
    """A problem in one line, before the manifest path and line number are attached."""

    def __init__(self, field: str, expected: str, got: Any = None) -> None:
        super().__init__(field)
        self.field, self.expected, self.got = field, expected, got


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: its samples, classes and what was skipped.

    Build one with :meth:`load`. It is immutable and picklable (data-loader workers get a copy).

    Attributes:
        path: the manifest file.
        samples: the kept samples, in file order.
        classes: the class names that labels index, or ``None`` when no line has a label
            and none were given.
        skipped: one :class:`InputError` per line skipped with ``on_error="skip"``.
    """

    path: Path
    samples: tuple[ManifestSample, ...]
    classes: tuple[str, ...] | None = None
    skipped: tuple[InputError, ...] = ()

    # --- loading ---------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        split: str | Collection[str] | None = None,
        classes: Sequence[str] | None = None,
        on_error: Literal["raise", "skip"] = "raise",
        check_files: bool = True,
        modalities: Collection[str] | None = None,
    ) -> Manifest:
        """Read and validate the manifest at ``path``.

        Args:
            path: a ``.jsonl`` file; relative sample paths resolve against its folder.
            split: keep only samples of this split (or these splits). Every line is still
                validated, so a broken line in another split is still reported.
            classes: class names; default: ``classes.json`` beside the manifest, else the
                sorted label names found (integer labels then need given classes or none).
            on_error: ``"raise"`` stops at the first bad line; ``"skip"`` drops it, counts
                it in :attr:`skipped` and logs a warning.
            check_files: check that every referenced file exists and is readable.
            modalities: the modality fields to accept; default: every registered modality
                and ``text`` (:func:`known_fields`). Name them to read a manifest whose
                modalities are not registered in this process.
        """
        if on_error not in ("raise", "skip"):
            raise InputError("on_error", "'raise' or 'skip'", repr(on_error))
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(str(path), "a readable UTF-8 JSONL manifest", f"{type(err).__name__}: {err}") from None
        root = path.parent.resolve()
        if classes is None and (root / CLASSES_FILE).is_file():
            classes = read_classes(root / CLASSES_FILE)
        fields = set(known_fields()) if modalities is None else {*_RESERVED, *modalities}
        raw: list[tuple[int, dict[str, Any]]] = []
        skipped: list[InputError] = []

        def fail(number: int, err: _LineError) -> None:
            error = InputError(f"{path}, line {number}, field '{err.field}'", err.expected, err.got)
            if on_error == "raise":
                raise error from None
            skipped.append(error)

        seen: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue  # blank lines (a trailing newline, spacing) are harmless
            try:
                record = _parse_line(line, fields, root, check_files)
                if record["id"] in seen:
                    raise _LineError("id", "an id used once", f"{record['id']!r}, also on line {seen[record['id']]}")
            except _LineError as err:
                fail(number, err)
                continue
            try:
                expanded = _expand_archive(record) if "archive" in record else [record]
            except _LineError as err:
                fail(number, err)
                continue
            reused = next((item["id"] for item in expanded if item["id"] in seen), None)
            if reused is not None:
                fail(number, _LineError("id", "an id used once", f"{reused!r}, also on line {seen[reused]}"))
                continue
            for item in expanded:
                seen[item["id"]] = number
                raw.append((number, item))

        if classes is None:
            names = {r["label"] for _, r in raw if isinstance(r.get("label"), str)}
            classes = sorted(names) if names else None
        class_index = None if classes is None else {name: i for i, name in enumerate(classes)}
        if classes is not None and len(class_index) != len(classes):
            raise InputError("classes", "distinct class names", list(classes))

        samples = []
        for number, record in raw:
            try:
                label = _resolve_label(record.get("label"), classes, class_index)
            except _LineError as err:
                fail(number, err)
                continue
            sample = ManifestSample(
                id=record["id"],
                inputs=record["inputs"],
                label=label,
                split=record.get("split"),
                meta=record.get("meta", {}),
                line=number,
            )
            samples.append(sample)

        if skipped:
            log.warning("%s: skipped %d bad line(s); first: %s", path, len(skipped), skipped[0])
        manifest = cls(path, tuple(samples), None if classes is None else tuple(classes), tuple(skipped))
        return manifest if split is None else manifest.select(split=split)

    # --- selection and access ----------------------------------------------------------
    def select(
        self,
        *,
        split: str | Collection[str] | None = None,
        modalities: Iterable[str] = (),
        require: Literal["all", "any"] = "all",
    ) -> Manifest:
        """A manifest of the samples in ``split`` that hold every one of ``modalities``
        (``require="any"``: at least one of them)."""
        if require not in ("all", "any"):
            raise InputError("require", "'all' or 'any'", repr(require))
        splits = {split} if isinstance(split, str) else (None if split is None else set(split))
        wanted = tuple(modalities)

        def holds(sample: ManifestSample) -> bool:
            if require == "all" or not wanted:
                return sample.has(wanted)
            return any(m in sample.inputs for m in wanted)

        kept = tuple(s for s in self.samples if (splits is None or s.split in splits) and holds(s))
        return replace(self, samples=kept)

    @property
    def splits(self) -> dict[str, int]:
        """Number of samples per split (``None`` counted as ``"none"``)."""
        counts: dict[str, int] = {}
        for s in self.samples:
            key = s.split if s.split is not None else "none"
            counts[key] = counts.get(key, 0) + 1
        return counts

    @property
    def modalities(self) -> list[str]:
        """The modality fields (streams: ``image``, ``image:side``) used by at least one sample, sorted."""
        return sorted({m for s in self.samples for m in s.inputs})

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> ManifestSample:
        return self.samples[index]

    def __iter__(self) -> Iterator[ManifestSample]:
        return iter(self.samples)


def _parse_line(line: str, fields: set[str], root: Path, check_files: bool) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError as err:
        raise _LineError("(json)", "one JSON object per line", f"malformed JSON: {err}") from None
    except RecursionError:
        raise _LineError("(json)", "one JSON object per line, nested a few levels at most", "nesting too deep to read") from None
    if not isinstance(value, dict):
        raise _LineError("(json)", "a JSON object", type(value).__name__)
    unknown = sorted(k for k in set(value) - fields if not _is_stream(k, fields))
    if unknown:
        raise _LineError(unknown[0], f"one of the fields {', '.join(sorted(fields))}", f"unknown field {unknown[0]!r}")

    sample_id = value.get("id")
    if isinstance(sample_id, bool) or not isinstance(sample_id, (str, int)) or sample_id == "":
        raise _LineError("id", "a non-empty string or integer id", sample_id)
    split = value.get("split")
    if split is not None and (not isinstance(split, str) or not split):
        raise _LineError("split", "a split name (string)", split)
    meta = value.get("meta", {})
    if not isinstance(meta, dict):
        raise _LineError("meta", "a JSON object of metadata", meta)
    label = value.get("label")
    if label is not None and (isinstance(label, bool) or not isinstance(label, (int, str))):
        raise _LineError("label", "a class index (int) or class name (string)", label)

    inputs: dict[str, str] = {}
    for name in sorted(set(value) - set(_RESERVED)):
        item = value[name]
        text = modality_of(name) == TEXT_FIELD
        if isinstance(item, list):
            raise _LineError(name, f"one file per field (several files of one modality: fields {name}{FIELD_SEPARATOR}<name>)", "a list")
        if not isinstance(item, str) or not item:
            raise _LineError(name, "a non-empty string" + ("" if text else " (a file path)"), item)
        inputs[name] = item if text else _resolve_path(name, item, root, check_files)
    record: dict[str, Any] = {"id": str(sample_id), "inputs": inputs, "meta": meta}
    archives = [name for name, path in inputs.items() if modality_of(name) != TEXT_FIELD and _is_archive(name, path)]
    if archives:
        if len(inputs) > 1:
            raise _LineError(archives[0], f"the line's only field (an archive of many samples: {Path(inputs[archives[0]]).name})", sorted(inputs))
        record["archive"] = archives[0]
    if split is not None:
        record["split"] = split
    if label is not None:
        record["label"] = label
    return record


def _is_stream(name: str, fields: set[str]) -> bool:
    """Whether ``name`` is ``<modality>:<name>`` for a modality field in ``fields``."""
    modality, sep, rest = name.partition(FIELD_SEPARATOR)
    return bool(sep) and modality in fields and modality not in _RESERVED and bool(_FIELD_NAME.fullmatch(rest))


def _modality_entry(name: str) -> Any:
    return MODALITIES.get(modality_of(name)) if modality_of(name) in MODALITIES else None


def _is_archive(name: str, path: str) -> bool:
    spec = _modality_entry(name)
    return spec is not None and any(path.lower().endswith(ext) for ext in spec.archive_extensions)


def _expand_archive(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One record per sample of the archive that ``record`` points at."""
    name = record["archive"]
    path = record["inputs"][name]
    try:
        members = _modality_entry(name).archive_members(path)
    except InputError as err:
        raise _LineError(name, err.expected, err.got) from None
    if "label" in record and any(label is not None for _, label in members):
        raise _LineError("label", f"no label (the archive {Path(path).name} labels its samples)", record["label"])
    out = []
    for k, (reference, label) in enumerate(members):
        member = {**record, "id": f"{record['id']}#{k}", "inputs": {name: reference}}
        member.pop("archive")
        if label is not None:
            member["label"] = label
        out.append(member)
    return out


def _resolve_path(name: str, item: str, root: Path, check_files: bool) -> str:
    path = Path(item)
    if not path.is_absolute():
        path = root / path
    if check_files:
        spec = _modality_entry(name)
        if path.is_dir() and spec is not None and spec.reads_folders:
            return str(path)  # a video's folder of frames
        if not path.is_file():
            raise _LineError(name, "an existing file", f"missing file {path}")
        if not os.access(path, os.R_OK):
            raise _LineError(name, "a readable file", f"unreadable file {path}")
    return str(path)


def _resolve_label(label: int | str | None, classes: Sequence[str] | None, index: dict[str, int] | None) -> int | None:
    if label is None:
        return None
    if isinstance(label, str):
        if index is None or label not in index:
            raise _LineError("label", f"one of the classes {_short(classes)}", repr(label))
        return index[label]
    if label < 0 or (classes is not None and label >= len(classes)):
        bound = "a class index >= 0" if classes is None else f"a class index in 0..{len(classes) - 1}"
        raise _LineError("label", bound + ("" if classes is None else f" (classes {_short(classes)})"), label)
    return label


def _short(classes: Sequence[str] | None) -> str:
    if not classes:
        return "(none)"
    shown = ", ".join(map(str, classes[:12]))
    return f"[{shown}{', ...' if len(classes) > 12 else ''}]"
