"""The appName we ask Dokploy for, and every name Docker or Swarm derives from ours, checked at preview."""

from __future__ import annotations

import pytest

from core.catalog import resolve
from core.names import BASE_MAX, DOKPLOY_SUFFIX, LABEL_MAX, app_name_base, problems
from tests.catalog_helpers import raw_catalog, settings


def stack_mode(**placements: dict[str, str]) -> dict[str, dict[str, str]]:
    return {"backend": {"mode": "stack"}, "frontend": {"mode": "stack"}} | placements


def test_the_app_name_is_short_stable_and_distinct_per_stack_and_compose_project() -> None:
    assert app_name_base("staging", "backend") == "staging-backend"
    long_a, long_b = app_name_base("pr-preview-1234-feature-x", "backend"), app_name_base("pr-preview-1234-feature-y", "backend")
    assert long_a != long_b and len(long_a) == len(long_b) == BASE_MAX
    assert app_name_base("pr-preview-1234-feature-x", "backend") == long_a  # stable
    assert app_name_base("Prod_EU", "frontend") == "prod-eu-frontend"  # Dokploy's alphabet, lower case


def test_the_shipped_catalog_in_stack_mode_has_names_swarm_takes() -> None:
    """Issue 22: Dokploy's generated appName + business-directory-backend was 67 characters; ours leaves room."""
    catalog = resolve(raw_catalog(), settings(projects=stack_mode()))
    assert problems("staging", catalog) == []
    longest = max(len(s.name) for s in catalog.services.values())
    assert len(app_name_base("staging", "backend")) + DOKPLOY_SUFFIX + 1 + longest <= LABEL_MAX
    generated = "compose-synthesize-multi-byte-hard-drive-a1b2c3"  # what Dokploy makes without an appName
    assert len(f"{generated}_business-directory-backend") > LABEL_MAX


def test_a_service_name_too_long_for_swarm_is_named_with_the_limit_and_the_fix() -> None:
    raw = raw_catalog()
    raw["services"]["a-very-long-service-name-that-swarm-refuses"] = raw["services"].pop("thrillring-gaming")
    catalog = resolve(raw, settings(projects=stack_mode()))
    [line] = problems("staging", catalog)
    assert line.startswith("stack staging: services/a-very-long-service-name-that-swarm-refuses: in stack mode Swarm names")
    assert "Docker allows 63; rename the service in catalog.yaml to at most 39 characters" in line
    assert problems("staging", resolve(raw, settings())) == []  # compose mode: no Swarm service name


@pytest.mark.parametrize("suffix", ["x" * 60])
def test_a_container_name_too_long_to_resolve_is_named(suffix: str) -> None:
    catalog = resolve(raw_catalog(), settings(container_suffix=suffix))
    found = problems("staging", catalog)
    assert len(found) == len(catalog.services)
    assert "allows 63 characters" in found[0] and "containerSuffix" in found[0]
