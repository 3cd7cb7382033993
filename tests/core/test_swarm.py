"""Stack mode: the deploy settings (catalog defaults, the service's, the stack's), their validation, and the rendered stack file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from core import swarm
from core.catalog import CatalogError, resolve
from core.compose import health_url, render_compose, service_summary
from core.model import Placement
from tests.catalog_helpers import fake_digest, raw_catalog, settings

GOLDEN = Path(__file__).parent / "golden"
NS = "bizosaas-deploy"
STACK = {"backend": {"mode": "stack", "ports": "host", "endpointMode": "dnsrr"}}
UNPUBLISHED = {"brain-api": {"published": False}}  # two replicas cannot share a host port on one node
PUBLISHED = {name: {"published": True} for name in raw_catalog()["services"]}
"""Every service on its catalog host port (a stack asks for it): what the port rules of stack mode are about."""


Config = dict[str, Any] | None


def stack_settings(projects: Config, services: Config, **kw: Any) -> Any:
    given = UNPUBLISHED if services is None else services
    asked = {**PUBLISHED, **{name: {**PUBLISHED.get(name, {}), **over} for name, over in given.items()}}
    return settings(projects=STACK if projects is None else projects, services=asked, **kw)


def catalog(projects: Config = None, services: Config = None, **kw: Any) -> Any:
    return resolve(raw_catalog(), stack_settings(projects, services, **kw))


def problems(projects: Config = None, services: Config = None, raw: Config = None, **kw: Any) -> str:
    with pytest.raises(CatalogError) as err:
        resolve(raw or raw_catalog(), stack_settings(projects, services, **kw))
    return str(err.value)


def digests(cat: Any) -> dict[str, str]:
    return {name: fake_digest(name) for name in cat.services}


def test_stack_mode_backend_matches_golden_file() -> None:
    cat = catalog()
    text = render_compose(cat, "backend", digests(cat))
    golden = GOLDEN / "backend.stack.yml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_stack_mode_has_no_container_name_a_network_alias_deploy_and_long_ports() -> None:
    cat = catalog()
    doc = yaml.safe_load(render_compose(cat, "backend", digests(cat)))
    assert doc["networks"] == {"dokploy-network": {"external": True}}
    brain = doc["services"]["brain-api"]
    assert "container_name" not in brain and "restart" not in brain and "ports" not in brain
    assert brain["networks"] == {"dokploy-network": {"aliases": ["bizosaas-brain-staging"]}}
    assert brain["deploy"]["replicas"] == 2 and brain["deploy"]["endpoint_mode"] == "dnsrr"
    assert brain["deploy"]["update_config"] == {"parallelism": 1, "delay": "0s", "order": "start-first", "failure_action": "rollback",
                                                "monitor": "30s"}
    assert brain["deploy"]["rollback_config"]["order"] == "start-first"
    assert brain["deploy"]["restart_policy"] == {"condition": "any", "delay": "5s", "window": "60s"}
    assert brain["deploy"]["labels"] == {"com.bizosaas.service": "brain-api", "com.bizosaas.stack": "staging"}
    assert brain["healthcheck"]["test"] == ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8001/health"]
    agents = doc["services"]["ai-agents"]
    assert agents["ports"] == [{"target": 8002, "published": 8008, "protocol": "tcp", "mode": "host"}]
    # the old task holds host port 8008 on its node: the new one can only start after it stopped
    assert agents["deploy"]["update_config"]["order"] == "stop-first" and agents["deploy"]["rollback_config"]["order"] == "stop-first"
    assert agents["deploy"]["replicas"] == 1
    assert agents["environment"]["BRAIN_API_URL"] == "http://bizosaas-brain-staging:8001"  # the alias: the same URL as compose mode
    frontend = yaml.safe_load(render_compose(cat, "frontend", digests(cat)))  # still compose mode
    assert frontend["services"]["client-portal"]["container_name"] == "bizosaas-client-portal-staging"
    assert "deploy" not in frontend["services"]["client-portal"]


def test_the_production_default_is_ingress_and_vip() -> None:
    cat = catalog({"backend": {"mode": "stack"}}, {})
    brain = yaml.safe_load(render_compose(cat, "backend", digests(cat)))["services"]["brain-api"]
    assert brain["ports"] == [{"target": 8001, "published": 8001, "protocol": "tcp", "mode": "ingress"}]
    assert brain["deploy"]["endpoint_mode"] == "vip" and brain["deploy"]["update_config"]["order"] == "start-first"
    assert cat.placement("backend") == Placement("stack", "", "ingress", "vip") and cat.placement("frontend") == Placement()


def test_stack_overrides_merge_key_by_key_over_the_service_and_the_defaults() -> None:
    over = {**UNPUBLISHED, "brain-api": {"published": False, "deploy": {
        "replicas": 3, "update_config": {"monitor": "5s"}, "resources": {"limits": {"cpus": "0.5", "memory": "256M"}},
        "placement": {"constraints": ["node.role == manager"]}}}}
    cat = catalog(services=over)
    deploy = yaml.safe_load(render_compose(cat, "backend", digests(cat)))["services"]["brain-api"]["deploy"]
    assert deploy["replicas"] == 3
    assert deploy["update_config"] == {
        "parallelism": 1, "delay": "0s", "order": "start-first", "failure_action": "rollback", "monitor": "5s"
    }
    assert deploy["resources"] == {"limits": {"cpus": "0.5", "memory": "256M"}}
    assert deploy["placement"] == {"constraints": ["node.role == manager"]}
    assert swarm.merge({"a": {"b": 1, "c": [1]}}, {"a": {"c": [2]}}, {"d": 1}) == {"a": {"b": 1, "c": [2]}, "d": 1}


def test_compose_mode_is_unchanged_and_an_unpublished_service_has_no_ports() -> None:
    cat = catalog({}, {"brain-api": {"published": False}})
    brain = yaml.safe_load(render_compose(cat, "backend", digests(cat)))["services"]["brain-api"]
    assert "ports" not in brain and brain["container_name"] == "bizosaas-brain-staging" and "deploy" not in brain
    assert health_url("http://127.0.0.1:{published}{path}", cat.services["brain-api"]) == ""
    assert health_url("http://{container}:{port}{path}", cat.services["brain-api"]) == "http://bizosaas-brain-staging:8001/health"


def test_the_preview_summary_shows_swarm_ports_and_deploy_in_stack_mode_only() -> None:
    cat = catalog()
    agents = service_summary(cat, cat.services["ai-agents"], "img", "")
    assert agents["ports"] == ["*:8008:8002 (host)"]
    assert agents["deploy"]["replicas"] == 1 and agents["deploy"]["update_config"]["order"] == "stop-first"
    assert "labels" not in agents["deploy"]
    portal = service_summary(cat, cat.services["client-portal"], "img", "")
    assert set(portal) == {"image", "ports", "env", "health"} and portal["ports"] == ["127.0.0.1:3000:3000"]


@pytest.mark.parametrize(
    ("projects", "services", "message"),
    [
        ({"backend": {"mode": "swarm"}}, {},
         f"stack staging: {NS}:composeProjects/backend/mode: 'swarm' should be compose (docker compose) or stack"),
        ({"middle": {"mode": "stack"}}, {},
         f"stack staging: {NS}:composeProjects/middle: unknown compose project (the catalog's compose projects are backend, frontend)"),
        ({"backend": {"mode": "stack", "replicas": 2}}, {},
         f"{NS}:composeProjects/backend/replicas: unknown key (allowed: endpointMode, mode, ports, server)"),
        ({"backend": {"server": " edge-1"}}, {}, f"{NS}:composeProjects/backend/server: ' edge-1' should be the name of a Dokploy server"),
        ({"backend": {"mode": "stack", "ports": "mesh"}}, {}, f"{NS}:composeProjects/backend/ports: 'mesh' should be ingress"),
        ({"backend": {"mode": "stack", "endpointMode": "rr"}}, {}, f"{NS}:composeProjects/backend/endpointMode: 'rr' should be vip"),
        # Swarm-only settings in compose mode
        ({"backend": {"ports": "host"}}, {},
         f"{NS}:composeProjects/backend/ports: is a Swarm setting (stack mode only) and compose project "
         "backend runs in compose mode: remove it, or set `pulumi config set --path composeProjects.backend.mode stack`"),
        ({"frontend": {"endpointMode": "dnsrr"}}, {}, f"{NS}:composeProjects/frontend/endpointMode: is a Swarm setting (stack mode only)"),
        (STACK, {**UNPUBLISHED, "client-portal": {"deploy": {"replicas": 2}}},
         f"stack staging: {NS}:services/client-portal/deploy: is a Swarm setting (stack mode only) and service client-portal is in "
         "compose project frontend, which runs in compose mode"),
        # what one node cannot run
        (STACK, {},
         "stack staging: services/brain-api/deploy/replicas: 2 replicas of brain-api publish host port 8001 in host mode "
         f"({NS}:composeProjects/backend/ports), and only one task per node can hold a host port: on a single node the other 1 "
         f"never start. Do not publish it (`{NS}:services/brain-api/published: false`; other services reach it at "
         "http://bizosaas-brain-staging:8001), publish it through ingress, or spread the replicas with "
         "deploy.placement.max_replicas_per_node: 1 over at least 2 nodes"),
        (STACK, {**UNPUBLISHED, "ai-agents": {"deploy": {"replicas": 3}}},
         f"{NS}:services/ai-agents/deploy/replicas: 3 replicas of ai-agents"),
        (STACK, {**UNPUBLISHED, "ai-agents": {"deploy": {"update_config": {"order": "start-first"}}}},
         f"{NS}:services/ai-agents/deploy/update_config/order: start-first starts the new task before the old one stops, but the old task "
         "holds host port 8008 on its node, so the new one cannot start there"),
        ({"backend": {"mode": "stack", "endpointMode": "dnsrr"}}, {},
         f"{NS}:composeProjects/backend/endpointMode: dnsrr cannot publish through ingress"),
    ],
)
def test_mode_problems_name_the_stack_the_key_and_why(projects: dict[str, Any], services: dict[str, Any], message: str) -> None:
    assert message in problems(projects, services)


def test_a_compose_only_setting_is_refused_in_stack_mode() -> None:
    text = problems(services={}, projects={"backend": {"mode": "stack"}}, publish_address="127.0.0.1", publish_address_given=True)
    assert (
        f"stack staging: {NS}:publishAddress: '127.0.0.1' binds compose-mode ports to one address, but Swarm publishes a port on "
        "every address of its nodes, so compose project backend (stack mode) would publish 8001 (brain-api)," in text
    )
    # unset (the loopback default of compose mode) or a wildcard: fine
    catalog({"backend": {"mode": "stack"}}, {})
    catalog({"backend": {"mode": "stack"}}, {}, publish_address="0.0.0.0", publish_address_given=True)


def test_host_ports_with_replicas_spread_over_nodes_or_an_explicit_stop_first_are_fine() -> None:
    spread = {"brain-api": {"deploy": {"placement": {"max_replicas_per_node": 1}}},
              "ai-agents": {"deploy": {"update_config": {"order": "stop-first"}}}}
    cat = catalog(services=spread)
    assert cat.services["brain-api"].deploy["replicas"] == 2 and cat.services["brain-api"].published == 8001


@pytest.mark.parametrize(
    ("deploy", "message"),
    [
        ({"replicas": 0}, "services/brain-api/deploy/replicas: 0 should be a whole number >= 1"),
        ({"replicas": "2"}, "services/brain-api/deploy/replicas: '2' should be a whole number >= 1"),
        ({"update_config": {"order": "first"}}, "update_config/order: 'first' should be one of start-first, stop-first"),
        ({"update_config": {"monitor": 30}}, "update_config/monitor: 30 should be a duration such as 10s"),
        ({"update_config": {"max_failure_ratio": 2}}, "update_config/max_failure_ratio: 2 should be a number from 0 to 1"),
        ({"rollback_config": {"failure_action": "rollback"}},
         "rollback_config/failure_action: 'rollback' should be one of pause, continue"),
        ({"restart_policy": {"condition": "always"}}, "restart_policy/condition: 'always' should be one of none, on-failure, any"),
        ({"resources": {"limits": {"memory": "lots"}}}, "resources/limits/memory: 'lots' should be a size such as 512M or 1G"),
        ({"resources": {"limits": {"cpus": "-1"}}}, "resources/limits/cpus: '-1' should be a positive number of CPUs"),
        ({"resources": {"limits": {"gpus": 1}}}, "resources/limits/gpus: unknown key; did you mean cpus? (allowed: cpus, memory, pids)"),
        ({"update_config": {"ordr": "stop-first"}}, "update_config/ordr: unknown key; did you mean order? (allowed: delay,"),
        ({"resources": {"limits": {"memory": "0"}}}, "resources/limits/memory: '0' should be a size such as 512M or 1G (more than zero"),
        ({"placement": {"constraints": "node.role == manager"}},
         "placement/constraints: 'node.role == manager' should be a list of constraints"),
        ({"placement": {"preferences": [{"pack": "x"}]}}, "placement/preferences/0/pack: unknown key (allowed: spread)"),
        ({"placement": {"preferences": "spread"}}, "placement/preferences: 'spread' should be a list of {spread: <node attribute>}"),
        ({"mode": "global"},
         "mode: unknown key (allowed: placement, replicas, resources, restart_policy, rollback_config, update_config)"),
        ("two", "services/brain-api/deploy: 'two' should be a mapping"),
    ],
)
def test_deploy_keys_are_validated_in_the_catalog_and_the_stack_config(deploy: Any, message: str) -> None:
    message = message if message.startswith("services/") else f"services/brain-api/deploy/{message}"
    raw = raw_catalog()
    raw["services"]["brain-api"]["deploy"] = deploy
    assert f"stack staging: {message}" in problems(raw=raw)
    # the same in the stack's override, named as the stack's key
    assert f"stack staging: {NS}:{message}" in problems(services={"brain-api": {"published": False, "deploy": deploy}})


def test_catalog_defaults_deploy_is_validated_and_named() -> None:
    raw = raw_catalog()
    raw["defaults"]["deploy"]["update_config"]["failure_action"] = "retry"
    assert "stack staging: catalog.yaml/defaults/deploy/update_config/failure_action: 'retry' should be one of rollback, pause, continue" \
        in problems(raw=raw)


def test_every_problem_is_reported_at_once() -> None:
    text = problems({"backend": {"mode": "stack", "ports": "host", "endpointMode": "dnsrr", "nodes": 2}, "frontend": {"ports": "host"}},
                    {"ai-agents": {"deploy": {"replicas": 2}}})
    lines = text.splitlines()
    assert len(lines) == 4, text
    assert any("composeProjects/backend/nodes" in x for x in lines) and any("composeProjects/frontend/ports" in x for x in lines)
    assert any("services/brain-api/deploy/replicas" in x for x in lines) and any("services/ai-agents/deploy/replicas" in x for x in lines)


def test_monitor_seconds_reads_go_durations() -> None:
    cat = catalog(services={**UNPUBLISHED, "ai-agents": {"deploy": {"update_config": {"monitor": "1m30s"}}}})
    assert swarm.monitor_seconds(cat.services["ai-agents"]) == 90.0
    assert swarm.monitor_seconds(cat.services["brain-api"]) == 30.0
