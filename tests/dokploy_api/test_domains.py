"""reconcile_domains against the Dokploy stand-in: one read, then only what differs, deletes before creates."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dokploy_api import DokployClient
from dokploy_api.domains import reconcile_domains
from testkit.dokploy import FakeDokploy

API = {"host": "api.example.com", "path": "/", "port": 8001, "https": True, "certificate": "letsencrypt", "cert_resolver": "",
       "health": "/health"}


@pytest.fixture
def world() -> Iterator[tuple[FakeDokploy, DokployClient, str]]:
    key = secrets.token_hex(16)
    srv = FakeDokploy(api_keys={key}, latency=0)
    srv.start()
    with DokployClient(srv.base_url, key, allow_insecure_http=True) as client:
        env = client.project.create("p")["environment"]["environmentId"]
        yield srv, client, client.compose.create("backend", env)["composeId"]
    srv.stop()


def writes(srv: FakeDokploy) -> list[str]:
    """The writes so far (the stand-in records a call just after answering it: wait until the record is complete)."""
    last = -1
    while last != len(srv.calls):
        last = len(srv.calls)
        time.sleep(0.05)
    return [p for m, p, _ in srv.calls if m == "POST"]


def test_the_compose_ends_with_exactly_the_routes_and_a_second_run_writes_nothing(world: tuple[FakeDokploy, DokployClient, str]) -> None:
    srv, client, compose_id = world
    client.domain.create({"host": "old.example.com", "composeId": compose_id, "serviceName": "brain-api"})
    client.domain.create({"host": "web.example.com", "composeId": compose_id, "serviceName": "web"})
    writes(srv)  # settled
    srv.reset_calls()
    routes: dict[str, Any] = {"brain-api": API, "bizoholic-frontend": {**API, "host": "web.example.com", "port": 3000}}
    plan = reconcile_domains(client, compose_id, routes)
    assert writes(srv) == ["domain.update", "domain.update"]  # brain-api's domain follows its host; web.example.com adopted
    assert sorted((d["host"], d["serviceName"], d["port"]) for d in client.domain.by_compose_id(compose_id)) == [
        ("api.example.com", "brain-api", 8001), ("web.example.com", "bizoholic-frontend", 3000)]
    assert len(plan.update) == 2
    writes(srv)  # settled
    srv.reset_calls()
    assert not reconcile_domains(client, compose_id, routes)
    assert writes(srv) == []  # one domain.byComposeId, nothing written
    reconcile_domains(client, compose_id, {"brain-api": API})
    assert [d["host"] for d in client.domain.by_compose_id(compose_id)] == ["api.example.com"]
