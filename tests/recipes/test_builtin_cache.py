"""The build cache: atomic builds, marker-based reuse, rebuild on new options, failed builds leave nothing."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from polymodal.recipes.datasets import BUILDERS, MARKER, DatasetBuilder, build

CALLS: list[dict] = []


def write_toy(folder: Path, *, size: int = 2, fail: bool = False) -> dict:
    CALLS.append({"size": size})
    (folder / "manifest.jsonl").write_text("".join(json.dumps({"id": str(i), "text": "x"}) + "\n" for i in range(size)))
    if fail:
        raise RuntimeError("builder failed half-way")
    return {"rows": size}


@pytest.fixture
def toy() -> Iterator[str]:
    @BUILDERS.register("toy-cache-test")
    class Toy(DatasetBuilder):
        """A test builder."""

        write = staticmethod(write_toy)

    CALLS.clear()
    yield "toy-cache-test"
    BUILDERS.unregister("toy-cache-test")  # keep the registry clean for other tests


def test_reuse_rebuild_and_force(tmp_path: Path, toy: str) -> None:
    folder = build(toy, root=tmp_path)
    assert folder == tmp_path / toy and len(CALLS) == 1
    marker = json.loads((folder / MARKER).read_text())
    assert marker["options"] == {"size": 2, "fail": False} and marker["summary"] == {"rows": 2}
    assert build(toy, root=tmp_path) == folder and len(CALLS) == 1  # reused
    build(toy, root=tmp_path, size=3)  # other options: rebuilt in place
    assert len(CALLS) == 2 and len((folder / "manifest.jsonl").read_text().splitlines()) == 3
    build(toy, root=tmp_path, size=3, force=True)
    assert len(CALLS) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [toy]  # no scratch or old copies left


def test_failed_build_leaves_nothing_and_keeps_the_old_one(tmp_path: Path, toy: str) -> None:
    with pytest.raises(RuntimeError, match="half-way"):
        build(toy, root=tmp_path, fail=True)
    assert list(tmp_path.iterdir()) == []
    folder = build(toy, root=tmp_path)
    with pytest.raises(RuntimeError):
        build(toy, root=tmp_path, size=5, fail=True)
    assert json.loads((folder / MARKER).read_text())["options"]["size"] == 2  # the complete build survives


def test_incomplete_folder_without_marker_is_rebuilt(tmp_path: Path, toy: str) -> None:
    stale = tmp_path / toy
    stale.mkdir()
    (stale / "manifest.jsonl").write_text("half")
    build(toy, root=tmp_path)
    assert len(CALLS) == 1 and (stale / MARKER).is_file()
    assert (stale / "manifest.jsonl").read_text().count("\n") == 2


def test_default_root_is_the_user_cache(tmp_path: Path, toy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert build(toy) == tmp_path / ".cache" / "polymodal" / "datasets" / toy
