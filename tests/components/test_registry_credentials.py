"""RegistryProvider against the Dokploy stand-in: lifecycle, adoption, checks."""


from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from components.compose_project_inputs import sha256_text
from components.registry_credentials import RegistryProvider
from dokploy_api import DokployConfigError
from testkit.dokploy import FakeDokploy
from tests.components.conftest import (
    FAST_CLIENT,
    configured,
    procs,
    settle,
)


def test_registry_lifecycle_keeps_password_out_of_outputs_when_created_updated_deleted(
    registry_props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    provider = RegistryProvider(client_options=dict(FAST_CLIENT))
    assert provider.check({}, registry_props).failures == []
    created = provider.create(registry_props)
    outs = created.outs or {}
    assert outs["registry_id"] == created.id and "password" not in outs and "api_key" not in outs
    assert registry_props["password"] not in json.dumps(outs) and api_key not in json.dumps(outs)
    with srv.state.lock:
        row = dict(srv.state.registries[created.id])
    assert (row["registryType"], row["imagePrefix"], row["registryUrl"]) == ("cloud", None, "ghcr.io")
    settle(srv)
    srv.reset_calls()
    assert provider.diff(created.id, outs, registry_props).changes is False and settle(srv) == []
    rotated = {**registry_props, "password": "ghp_" + secrets.token_hex(16)}
    assert provider.diff(created.id, outs, rotated).changes is True
    new_outs = provider.update(created.id, outs, rotated).outs or {}
    assert procs(srv, "POST") == ["registry.update"] and new_outs["password_sha256"] == sha256_text(rotated["password"])
    configured(provider, api_key)
    read = provider.read(created.id, new_outs)
    assert read.id == created.id and read.inputs is None
    provider.delete(created.id, new_outs)
    provider.delete(created.id, new_outs)
    assert provider.read(created.id, new_outs).id == ""


def test_registry_create_adopts_same_name_when_previous_create_failed(registry_props: dict[str, Any], srv: FakeDokploy) -> None:
    provider = RegistryProvider(client_options=dict(FAST_CLIENT))
    first = provider.create(registry_props)
    second = provider.create({**registry_props, "username": "someone-else"})
    assert first.id == second.id and len(srv.state.registries) == 1


def test_registry_check_rejects_scheme_when_url_has_one(registry_props: dict[str, Any]) -> None:
    failures = RegistryProvider().check({}, {**registry_props, "registry_url": "https://ghcr.io"}).failures
    assert [f.property for f in failures] == ["registry_url"]


def test_registry_logs_in_on_every_machine_that_pulls_and_on_each_one_added_later(registry_props: dict[str, Any], api_key: str) -> None:
    with FakeDokploy(api_keys={api_key}, latency=0, servers=["edge-1", "edge-2"]) as srv:
        ids = {s["name"]: s["serverId"] for s in srv.state.servers.values()}
        props = {**registry_props, "dokploy_url": srv.base_url, "servers": {"edge-1": ids["edge-1"]}, "on_host": False}
        provider = RegistryProvider(client_options=dict(FAST_CLIENT))
        created = provider.create(props)
        outs = created.outs or {}
        assert srv.state.registry_logins == {created.id: [ids["edge-1"]]}  # registry.create {serverId}: the login runs there only
        assert (outs["servers"], outs["on_host"]) == ({"edge-1": ids["edge-1"]}, False)

        both = {**props, "servers": {"edge-1": ids["edge-1"], "edge-2": ids["edge-2"]}, "on_host": True}
        diff = provider.diff(created.id, outs, both)
        assert (diff.changes, list(diff.replaces or [])) == (True, [])
        settle(srv)
        srv.reset_calls()
        outs = provider.update(created.id, outs, both).outs or {}
        assert procs(srv, "POST") == ["registry.update", "registry.update"]  # only the machines added: the host and edge-2
        assert srv.state.registry_logins[created.id] == [ids["edge-1"], "", ids["edge-2"]]
        assert provider.diff(created.id, outs, both).changes is False

        srv.reset_calls()
        rotated = {**both, "password": "ghp_" + secrets.token_hex(16)}
        provider.update(created.id, outs, rotated)
        assert procs(srv, "POST") == ["registry.update"] * 3  # new credentials: every machine logs in again
        older = {k: v for k, v in outs.items() if k not in ("servers", "on_host")}  # a state written before servers: the host
        assert provider.diff(created.id, older, {**registry_props, "dokploy_url": srv.base_url}).changes is False


def test_registry_on_a_server_not_resolved_fails_before_any_call(registry_props: dict[str, Any], srv: FakeDokploy) -> None:
    provider = RegistryProvider(client_options=dict(FAST_CLIENT))
    assert provider.check({}, {**registry_props, "servers": {"edge-1": 1}}).failures[0].reason.startswith("servers: should map")
    with pytest.raises(DokployConfigError, match="server 'edge-1' was not resolved to a Dokploy server id"):
        provider.create({**registry_props, "servers": {"edge-1": ""}})
    assert procs(srv) == []


def test_registry_entry_is_deleted_only_by_the_stack_that_created_it(
    registry_props: dict[str, Any], srv: FakeDokploy, api_key: str, warnings_shown: Any
) -> None:
    """Issue 22: staging and prod both name the entry ``ghcr``; whichever came second must not delete it."""
    staging, prod = (configured(RegistryProvider(client_options=dict(FAST_CLIENT)), api_key) for _ in range(2))
    first = staging.create(registry_props)
    second = prod.create({**registry_props, "password": "ghp_" + secrets.token_hex(16)})
    assert first.id == second.id and (first.outs or {})["created"] is True and (second.outs or {})["created"] is False
    prod.delete(second.id, second.outs or {})
    assert list(srv.state.registries) == [first.id]  # the adopter kept it
    assert "was kept: another stack or a person made it" in warnings_shown()
    staging.delete(first.id, first.outs or {})
    assert srv.state.registries == {}
