"""Registries and plugins in-process: entry points of a distribution made on disk for the test.

A fake installed distribution (``pm-fake-plugin`` 1.2.3: a ``.dist-info`` folder with its
``entry_points.txt``, beside its package) is put on ``sys.path``; registries of a test group
load it as they would a real plugin, broken entries included.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from torch import nn

import polymodal
from polymodal import registry
from polymodal.errors import CheckpointError, ConfigError
from polymodal.models.base import MODELS, PretrainedModel, check_requirements
from polymodal.registry import Origin, Registry

GROUP = "polymodal.test_widgets"
ENTRY_POINTS = {
    "good": "pm_fake_plugin.widgets:Good",
    "broken": "pm_fake_plugin.broken:Widget",  # its module fails to import
    "wrong": "pm_fake_plugin.widgets:make_widget",  # a function, not an nn.Module subclass
    "taken": "pm_fake_plugin.widgets:Other",  # a name polymodal already uses
    "alias": "pm_fake_plugin.widgets:Good",  # the same class under a second name
}
MODULES = {
    "__init__.py": "",
    "widgets.py": """
        from torch import nn

        class Good(nn.Module):
            pass

        class Other(nn.Module):
            pass

        class Transform:
            '''A picklable transform, as a plugin modality has.'''

        def make_widget():
            return Good()
    """,
    "broken.py": "import pm_missing_dependency  # not installed\n",
}


@pytest.fixture
def fake_plugin(tmp_path, monkeypatch) -> Path:
    package = tmp_path / "pm_fake_plugin"
    package.mkdir()
    for name, text in MODULES.items():
        (package / name).write_text(textwrap.dedent(text))
    info = tmp_path / "pm_fake_plugin-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pm-fake-plugin\nVersion: 1.2.3\n")
    (info / "top_level.txt").write_text("pm_fake_plugin\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in ENTRY_POINTS.items()))
    monkeypatch.syspath_prepend(str(tmp_path))
    for cache in (registry._distributions_by_package, registry.plugin_distributions):
        cache.cache_clear()
    yield tmp_path
    for cache in (registry._distributions_by_package, registry.plugin_distributions):
        cache.cache_clear()
    for name in [m for m in sys.modules if m.startswith("pm_fake_plugin")]:
        del sys.modules[name]


class Builtin(nn.Module):
    pass


def widgets() -> Registry:
    reg = Registry("widget", group=GROUP, base=nn.Module)
    reg.register("taken")(Builtin)  # as a builtin module registers itself
    return reg


def test_entry_point_name_is_the_registered_name(fake_plugin):
    reg = widgets()
    with pytest.warns(RuntimeWarning, match="polymodal plugin"):
        names = reg.names()
    assert names == ["good", "taken"]
    good = reg.get("good")
    assert good.__name__ == "Good" and good.name == "good"  # the name recorded on the entry
    assert reg.origin("good") == Origin("pm-fake-plugin", "1.2.3")
    assert reg.origin("taken") is None and reg.get("taken") is Builtin  # the builtin keeps its name


def test_broken_plugins_are_reported_not_fatal(fake_plugin):
    reg = widgets()
    with pytest.warns(RuntimeWarning) as caught:
        failures = reg.failures()
    assert sorted(failures) == ["alias", "broken", "taken", "wrong"]
    assert len(caught) == 4  # one warning per broken entry, once
    assert "ModuleNotFoundError" in failures["broken"] and "pm_missing_dependency" in failures["broken"]
    assert "pm-fake-plugin 1.2.3" in failures["broken"]
    assert "a subclass of Module" in failures["wrong"]
    assert "already registered" in failures["taken"] and "one name per entry" in failures["alias"]
    with pytest.raises(ConfigError, match="widget: expected a working plugin for 'broken', got .*pm_missing_dependency"):
        reg.get("broken", field="widget")
    with pytest.raises(ConfigError, match="expected one of good, taken, got 'nothing'"):
        reg.get("nothing")
    reg.failures()  # loaded once: no second round of warnings


def test_registering_a_wrong_entry_in_code_raises():
    reg = Registry("widget", base=nn.Module)
    with pytest.raises(ConfigError, match="widget registry: f: expected a subclass of Module"):
        reg.register("f")(lambda: None)
    reg.register("a")(Builtin)
    with pytest.raises(ConfigError, match="one name per entry"):
        reg.register("b")(Builtin)
    with pytest.raises(ConfigError, match="'a' is already registered"):
        reg.register("a")(nn.Linear)


def test_every_polymodal_registry_checks_its_entries():
    from polymodal.fusion import FUSIONS, Fusion
    from polymodal.heads.base import HEADS
    from polymodal.modalities import MODALITIES, TOKENIZERS, Modality, Tokenizer
    from polymodal.objectives.base import OBJECTIVES
    from polymodal.training import TASKS, TrainingTask

    for reg, base in ((MODALITIES, Modality), (TOKENIZERS, Tokenizer), (FUSIONS, Fusion), (MODELS, PretrainedModel),
                      (TASKS, TrainingTask), (HEADS, nn.Module), (OBJECTIVES, nn.Module)):  # fmt: skip
        assert reg.base is base and reg.group.startswith("polymodal.")
        assert all(issubclass(entry, base) for _, entry in reg.items()) and not reg.failures()


class _Holder(PretrainedModel):
    """A model with a plugin's module and, in a dict, a plugin's non-module object."""

    def __init__(self, part: nn.Module | None = None, transforms: dict | None = None) -> None:
        super().__init__()
        self.part = part
        self.transforms = transforms or {}
        self.proj = nn.Linear(2, 2)

    def config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config, directory=None) -> _Holder:
        return cls()


@pytest.fixture
def holder_type():
    MODELS.register("test_holder")(_Holder)
    yield _Holder
    MODELS.unregister("test_holder")


def test_a_saved_model_names_the_plugins_it_is_built_from(fake_plugin, holder_type, tmp_path):
    import pm_fake_plugin.widgets as w

    assert holder_type().requirements() == []
    assert holder_type(part=w.Good()).requirements() == [Origin("pm-fake-plugin", "1.2.3")]
    with_transform = holder_type(transforms={"spectrum": w.Transform()})  # found among held objects
    assert with_transform.requirements() == [Origin("pm-fake-plugin", "1.2.3")]
    folder = with_transform.save_pretrained(tmp_path / "model")
    assert json.loads((folder / "config.json").read_text())["requires"] == [{"distribution": "pm-fake-plugin", "version": "1.2.3"}]
    assert isinstance(polymodal.load(folder), holder_type)  # installed: loads


def test_loading_without_a_required_plugin_names_the_package(holder_type, tmp_path):
    folder = holder_type().save_pretrained(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    config["requires"] = [{"distribution": "pm-not-installed", "version": "0.3.1"}]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"requires: expected the plugin distribution 'pm-not-installed' installed \(pip install 'pm-not-installed==0.3.1'\)"):
        polymodal.load(folder)
    with pytest.raises(CheckpointError, match="requires: expected a list of"):
        check_requirements({"requires": ["pm-not-installed"]}, "config.json")


def test_a_model_folder_never_imports_a_module_it_names(holder_type, tmp_path, monkeypatch):
    (tmp_path / "pm_sentinel.py").write_text("raise SystemExit('imported!')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = holder_type().save_pretrained(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    for model_type in ("pm_sentinel", "pm_sentinel:_Holder", "pm_sentinel._Holder"):
        (folder / "config.json").write_text(json.dumps({**config, "model_type": model_type}))
        with pytest.raises(CheckpointError, match="model_type: expected one of"):
            polymodal.load(folder)
    # A folder written before 0.2 names a module: ignored, never imported.
    (folder / "config.json").write_text(json.dumps({**config, "model_module": "pm_sentinel"}))
    assert isinstance(polymodal.load(folder), holder_type)
    assert "pm_sentinel" not in sys.modules
