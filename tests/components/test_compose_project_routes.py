"""ComposeProjectProvider's routes against the Dokploy stand-in: domains made before the one deploy, a route change is a
redeploy, drift in Dokploy's UI seen by read and repaired by update, delete and rollback, and the check through Traefik."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from components.compose_project import ComposeProjectProvider
from components.compose_project_inputs import diff_inputs
from dokploy_api import DokployClient
from probes.routes import RouteCheckFailed
from testkit.dokploy import FakeDokploy
from tests.components.conftest import compose_yaml, composes, configured, procs, settle
from tests.probes.test_routes import HostRouter

API = {"host": "api.example.test", "path": "/", "port": 8001, "https": False, "certificate": "none", "cert_resolver": "",
       "health": "/health"}
NO_TRAEFIK: dict[str, str] = {}


@pytest.fixture
def routed(props: dict[str, Any]) -> dict[str, Any]:
    return {**props, "routes": {"web": API}, "traefik": NO_TRAEFIK}


@pytest.fixture
def traefik() -> Iterator[HostRouter]:
    router = HostRouter({"api.example.test/health": (200, "ok")})
    yield router
    router.close()


def domains(srv: FakeDokploy) -> list[dict[str, Any]]:
    return list(srv.state.snapshot()["domains"])


def client(srv: FakeDokploy, api_key: str) -> DokployClient:
    return DokployClient(srv.base_url, api_key)


def test_create_makes_the_domains_before_its_one_deploy_and_the_deploy_writes_their_labels(
    provider: ComposeProjectProvider, routed: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = provider.create(routed).outs or {}
    [row] = domains(srv)
    assert (row["host"], row["serviceName"], row["port"], row["https"], row["certificateType"], row["domainType"]) == (
        "api.example.test", "web", 8001, False, "none", "compose")
    writes = procs(srv, "POST")
    assert writes.index("domain.create") < writes.index("compose.deploy") and writes.count("compose.deploy") == 1
    assert "domain.byComposeId" not in procs(srv, "GET")  # a compose just created has no domain to read
    web = yaml.safe_load(srv.state.disk[outs["app_name"]])["services"]["web"]
    router = f"{outs['app_name']}-{row['uniqueConfigKey']}-web"
    assert f"traefik.http.routers.{router}.rule=Host(`api.example.test`)" in web["labels"]
    assert outs["routes"] == {"web": API} and "domains" in outs["timings"] and "routes" not in outs["timings"]  # no Traefik: not checked


def test_a_route_change_alone_updates_its_domain_in_place_and_redeploys_once(
    provider: ComposeProjectProvider, routed: dict[str, Any], srv: FakeDokploy
) -> None:
    old = provider.create(routed).outs or {}
    [before] = domains(srv)
    new = {**routed, "routes": {"web": {**API, "host": "gateway.example.test"}}}
    assert diff_inputs(old, new) == ([], ["routes"])
    settle(srv)
    srv.reset_calls()
    provider.update(old["compose_id"], old, new)
    [after] = domains(srv)
    assert after["domainId"] == before["domainId"] and after["host"] == "gateway.example.test"
    assert [p for p in procs(srv, "POST") if p.startswith(("domain.", "compose."))] == ["domain.update", "compose.redeploy"]
    assert "domain.byComposeId" not in procs(srv, "GET")  # planned from the domains compose.one lists, read once


def test_routes_removed_delete_their_domains_and_a_compose_that_never_had_routes_keeps_its_own(
    provider: ComposeProjectProvider, routed: dict[str, Any], props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    configured(provider, api_key)  # read and delete get outputs only: the key comes from the stack config
    old = provider.create(routed).outs or {}
    provider.update(old["compose_id"], old, {**routed, "routes": {}})
    assert domains(srv) == []
    plain = provider.create({**props, "compose_name": "frontend", "compose_file": compose_yaml()}).outs or {}
    with client(srv, api_key) as c:  # a domain clicked into Dokploy's UI for a stack that declares no routes
        c.domain.create({"host": "by-hand.example.test", "composeId": plain["compose_id"], "serviceName": "web", "domainType": "compose"})
    settle(srv)  # (the stand-in records a call just after answering it)
    srv.reset_calls()
    changed = {**props, "compose_name": "frontend", "compose_file": compose_yaml(), "env": props["env"] + "X=1\n"}
    provider.update(plain["compose_id"], plain, changed)
    assert [d["host"] for d in domains(srv)] == ["by-hand.example.test"] and not [p for p in procs(srv) if p.startswith("domain.")]
    assert provider.read(plain["compose_id"], plain).outs["drift"] == []  # not managed: no drift either


def test_a_state_without_routes_diffs_clean_against_no_routes(provider: ComposeProjectProvider, props: dict[str, Any]) -> None:
    old = provider.create(props).outs or {}
    landed = {k: v for k, v in old.items() if k not in ("routes", "traefik")}  # a state written before routes existed
    assert diff_inputs(landed, {**props, "routes": {}, "traefik": {}}) == ([], [])
    assert diff_inputs(old, {**props, "routes": {}, "traefik": {"web": "http://t", "websecure": "https://t"}}) == ([], ["traefik"])


def test_read_reports_domains_edited_removed_or_added_in_dokploy_and_update_repairs_them(
    provider: ComposeProjectProvider, routed: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    configured(provider, api_key)
    two = {**routed, "routes": {"web": API, "worker": {**API, "host": "worker.example.test", "port": 9000}}}
    old = provider.create(two).outs or {}
    with client(srv, api_key) as c:
        web, worker = c.domain.by_compose_id(old["compose_id"])
        c.domain.update({"domainId": web["domainId"], "host": "api.example.test", "port": 9999})
        c.domain.delete(worker["domainId"])
        c.domain.create({"host": "extra.example.test", "composeId": old["compose_id"], "serviceName": "web"})
    read = provider.read(old["compose_id"], old)
    outs = read.outs or {}
    assert outs["drift"] == [
        "the domain api.example.test of service web was changed in Dokploy (port)",
        "the domain worker.example.test of service worker was removed in Dokploy",
        "Dokploy holds a domain no route declares: extra.example.test (service web)",
    ]
    assert read.inputs is not None and read.inputs["routes"]["web"]["port"] == 9999 and "worker" not in read.inputs["routes"]
    assert "(not declared) extra.example.test" in read.inputs["routes"]
    _, changed = diff_inputs(outs, two)
    assert "routes" in changed and "deployment" in changed
    settle(srv)
    srv.reset_calls()
    provider.update(old["compose_id"], outs, two)
    assert sorted((d["host"], d["port"]) for d in domains(srv)) == [("api.example.test", 8001), ("worker.example.test", 9000)]
    assert procs(srv, "POST").count("compose.redeploy") == 1
    assert (provider.read(old["compose_id"], provider.update(old["compose_id"], outs, two).outs).outs or {})["drift"] == []


def test_compose_delete_takes_its_domains_and_a_replacement_gets_them_back_before_its_first_deploy(
    provider: ComposeProjectProvider, routed: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    configured(provider, api_key)
    old = provider.create(routed).outs or {}
    provider.delete(old["compose_id"], old)
    assert domains(srv) == [] and composes(srv) == []
    settle(srv)
    srv.reset_calls()
    moved = provider.create({**routed, "compose_type": "stack"}).outs or {}  # a mode move: deleted, then created again
    [row] = domains(srv)
    writes = procs(srv, "POST")
    assert row["composeId"] == moved["compose_id"] and writes.index("domain.create") < writes.index("compose.deploy")


def test_every_route_is_checked_through_traefik_and_recorded_with_the_services_verification(
    provider: ComposeProjectProvider, routed: dict[str, Any], traefik: HostRouter
) -> None:
    checked = {**routed, "traefik": {"web": traefik.url, "websecure": "https://127.0.0.1:1"}}
    outs = provider.create(checked).outs or {}
    assert outs["verification"]["web"]["route"] == {"url": "http://api.example.test/health", "through": traefik.url, "status": 200,
                                                     "seconds": outs["verification"]["web"]["route"]["seconds"]}
    assert traefik.seen[0][:2] == ("api.example.test", "/health") and "routes" in outs["timings"]
    traefik.answers.clear()  # Traefik lost the route (a Traefik restart without the Docker provider, say)
    with pytest.raises(RouteCheckFailed, match="Traefik has no router for this host and path"):
        provider.update(outs["compose_id"], outs, {**checked, "traefik": {"web": traefik.url, "websecure": "https://127.0.0.1:2"}})


def test_a_failed_route_check_rolls_the_domains_back_with_the_compose_file(
    provider: ComposeProjectProvider, routed: dict[str, Any], srv: FakeDokploy, traefik: HostRouter
) -> None:
    checked = {**routed, "traefik": {"web": traefik.url, "websecure": "https://127.0.0.1:1"}, "rollback_on_failure": True}
    old = provider.create(checked).outs or {}
    broken = {**checked, "routes": {"web": {**API, "host": "nowhere.example.test"}}}
    with pytest.raises(RouteCheckFailed) as err:
        provider.update(old["compose_id"], old, broken)
    assert "rolled back to the previous compose file and env" in str(err.value) and "verified again" in str(err.value)
    assert [d["host"] for d in domains(srv)] == ["api.example.test"]


@pytest.mark.parametrize(("routes", "reason"), [
    ({"web": {**API, "port": "8001"}}, "routes: web: port should be a port, not '8001'"),
    ({"web": {**API, "tls": True}}, "routes: web: unknown keys tls"),
    ({"web": "api.example.test"}, "routes: web: should be a route (host, path, port, https, certificate, cert_resolver, health)"),
])
def test_check_names_a_bad_route(provider: ComposeProjectProvider, routed: dict[str, Any], routes: Any, reason: str) -> None:
    failures = provider.check({}, {**routed, "routes": routes}).failures
    assert [(f.property, f.reason) for f in failures] == [("routes", reason)]
    bad = provider.check({}, {**routed, "traefik": {"web": "https://x"}}).failures
    assert [f.property for f in bad] == ["traefik"]


def test_a_plain_up_sees_a_domain_edited_in_dokploy_without_a_refresh_and_repairs_it(
    provider: ComposeProjectProvider, routed: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    configured(provider, api_key)
    old = provider.create(routed).outs or {}
    assert not provider.diff(old["compose_id"], old, routed).changes  # as declared: no change (one compose.one)
    with client(srv, api_key) as c:
        [row] = c.domain.by_compose_id(old["compose_id"])
        c.domain.update({"domainId": row["domainId"], "host": "api.example.test", "https": True, "certificateType": "letsencrypt"})
    result = provider.diff(old["compose_id"], old, routed)
    assert result.changes and result.replaces == []
    settle(srv)
    srv.reset_calls()
    provider.update(old["compose_id"], old, routed)
    [repaired] = domains(srv)
    assert (repaired["https"], repaired["certificateType"]) == (False, "none")
    assert [p for p in procs(srv, "POST") if p.startswith(("domain.", "compose."))] == ["domain.update", "compose.redeploy"]
