"""A stack's ``resourceLimits``: every service's cpus, memory and pids limits, in compose mode and in stack mode.

Both modes take them as the service's ``deploy.resources.limits``: docker compose (v2) applies that key to the container it
starts, Swarm to every task (``mem_limit``/``cpus`` are compose-only: ``docker stack deploy`` refuses ``mem_limit``). Dokploy
passes the compose file through as written (it only adds its domain labels); what the containers get is checked through
Dokploy's API by tests/conformance/test_resource_limits.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from core.catalog import CatalogError, resolve
from core.compose import render_compose, service_summary
from tests.catalog_helpers import fake_digest, raw_catalog, settings

NS = "bizosaas-deploy"
SMALL = {"cpus": 0.25, "memory": "128M", "pids": 64}
STACK_MODE = {"backend": {"mode": "stack", "ports": "host", "endpointMode": "dnsrr"}}


def rendered(group: str, **kw: Any) -> dict[str, Any]:
    cat = resolve(raw_catalog(), settings(**kw))
    return dict(yaml.safe_load(render_compose(cat, group, {n: fake_digest(n) for n in cat.services})))


def test_compose_mode_gives_every_service_the_limits_as_deploy_resources_limits() -> None:
    doc = rendered("frontend", limits=SMALL)
    assert doc["services"]
    for name, entry in doc["services"].items():
        assert entry["deploy"] == {"resources": {"limits": SMALL}}, name
        assert "mem_limit" not in entry and "cpus" not in entry  # one spelling for both modes


def test_without_the_key_the_compose_file_is_what_it_was() -> None:
    doc = rendered("frontend")
    assert all("deploy" not in entry for entry in doc["services"].values())
    cat = resolve(raw_catalog(), settings())
    assert "limits" not in service_summary(cat, cat.services["brain-api"], "img", "")


def test_stack_mode_merges_them_into_each_services_deploy_and_a_services_own_override_wins() -> None:
    services = {"brain-api": {"deploy": {"resources": {"limits": {"memory": "512M"}}}}}
    doc = rendered("backend", limits=SMALL, projects=STACK_MODE, services=services)
    assert doc["services"]["brain-api"]["deploy"]["resources"]["limits"] == {"cpus": 0.25, "memory": "512M", "pids": 64}
    assert doc["services"]["wagtail-cms"]["deploy"]["resources"]["limits"] == SMALL
    assert doc["services"]["wagtail-cms"]["deploy"]["replicas"] == 1  # the catalog's deploy settings stay


def test_the_preview_summary_shows_them_in_compose_mode() -> None:
    cat = resolve(raw_catalog(), settings(limits=SMALL))
    assert service_summary(cat, cat.services["brain-api"], "img", "")["limits"] == SMALL


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"memory": "0"}, f"stack staging: {NS}:resourceLimits/memory: '0' should be a size such as 512M or 1G"),
        ({"cpus": -1}, f"stack staging: {NS}:resourceLimits/cpus: -1 should be a positive number of CPUs"),
        ({"pids": 0}, f"stack staging: {NS}:resourceLimits/pids: 0 should be a whole number >= 1"),
        ({"memroy": "1G"}, f"stack staging: {NS}:resourceLimits/memroy: unknown key; did you mean memory?"),
    ],
)
def test_a_bad_limit_is_refused_naming_the_stack_and_the_key(limits: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogError) as err:
        resolve(raw_catalog(), settings(limits=limits))
    assert message in str(err.value)
