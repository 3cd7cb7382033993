"""core.yaml_text: libyaml's parser, the same data as yaml.safe_load."""

from __future__ import annotations

import pytest
import yaml

from core import yaml_text
from tests.catalog_helpers import ROOT


@pytest.mark.parametrize("name", ["catalog.yaml", "stacks/local.yaml", "Pulumi.staging.yaml"])
def test_the_same_data_as_safe_load(name: str) -> None:
    text = (ROOT / name).read_text()
    assert yaml_text.load(text) == yaml.safe_load(text)


def test_libyaml_parses_when_pyyaml_has_it() -> None:
    assert yaml_text.LOADER is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


def test_safe_types_only_and_errors_are_yaml_errors() -> None:
    assert yaml_text.load("a: 1\nb: [yes, '1', 1.5]\n") == {"a": 1, "b": [True, "1", 1.5]}  # YAML 1.1, as safe_load
    with pytest.raises(yaml.YAMLError):
        yaml_text.load("a: !!python/object:os.system ls\n")
    with pytest.raises(yaml.YAMLError):
        yaml_text.load("a: [1\n")
