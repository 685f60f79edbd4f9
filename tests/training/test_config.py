"""Run configs: strict validation with dotted paths, YAML-typed overrides, resolved dump."""

from pathlib import Path

import pytest
import yaml

from polymodal.errors import ConfigError
from polymodal.training import load_config
from polymodal.training.config import RunConfig, apply_overrides, config_to_yaml

from .conftest import write_config


def test_negative_lr_names_the_path_expected_and_received(tiny) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tiny(), ["optimizer.lr=-1"])
    assert str(info.value) == "optimizer.lr: expected a positive number, got -1"
    assert info.value.field == "optimizer.lr"


def test_unknown_key_is_rejected_and_valid_keys_listed(tiny) -> None:
    with pytest.raises(ConfigError, match=r"training\.stepz: expected a known key \(valid: .*steps"):
        load_config(tiny(), ["training.stepz=3"])


def test_task_sections_are_strict_too(tiny) -> None:
    with pytest.raises(ConfigError, match=r"^model\.dimm: expected a known key"):
        load_config(tiny(), ["model.dimm=3"])
    with pytest.raises(ConfigError, match=r"^data\.test_fraction: expected a number"):
        load_config(tiny(), ["data.test_fraction=abc"])


def test_literal_choice_and_unknown_task(tiny) -> None:
    with pytest.raises(ConfigError, match=r"training\.precision: expected one of 'fp32' or 'bf16', got fp16"):
        load_config(tiny(), ["training.precision=fp16"])
    with pytest.raises(ConfigError, match=r"task: expected one of .*digits_classifier.*got 'nope'"):
        load_config(tiny(), ["task=nope"])


def test_overrides_are_yaml_typed_and_nested() -> None:
    raw = apply_overrides({}, ["a.b=3", "a.c=0.5", "a.d=true", "e=[1, 2]", "f=null", "g=text"])
    assert raw == {"a": {"b": 3, "c": 0.5, "d": True}, "e": [1, 2], "f": None, "g": "text"}
    with pytest.raises(ConfigError, match="override: expected key.sub=value"):
        apply_overrides({}, ["novalue"])


def test_yaml_file_round_trips_through_the_resolved_dump(tmp_path: Path, tiny) -> None:
    path = write_config(tmp_path / "c.yaml", tiny())
    config = load_config(path, ["training.checkpoint.every=5"])
    assert config.training.checkpoint.every == 5
    again = RunConfig.model_validate(yaml.safe_load(config_to_yaml(config)))
    assert again == config


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected an existing YAML file"):
        load_config(tmp_path / "absent.yaml")
