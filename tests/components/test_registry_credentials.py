"""RegistryProvider against the Dokploy stand-in: lifecycle, adoption, checks."""


from __future__ import annotations

import json
import secrets
from typing import Any

from components.compose_project_inputs import sha256_text
from components.registry_credentials import RegistryProvider
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
