"""ComposeProject placement: the mode (compose | stack) and the Dokploy server a compose project runs on.

Against the Dokploy stand-in's simulation with two servers (every "server" is the local engine there;
what differs is what the API records and reports per server, which is what these tests check).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from components.compose_project import ComposeProjectProvider
from dokploy_api import DokployClient, DokployConflict
from testkit.dokploy import FakeDokploy
from tests.components.conftest import composes, configured, procs, settle

STACK = {"compose_type": "stack"}


@pytest.fixture
def srv(api_key: str) -> Iterator[FakeDokploy]:
    server = FakeDokploy(api_keys={api_key}, docker=False, latency=0, deploy_start_delay=0.05, deploy_duration=0.05,
                         servers=["edge-1", "edge-2"])
    server.start()
    try:
        yield server
    finally:
        server.restart()
        server.stop()


@pytest.fixture
def servers(srv: FakeDokploy, api_key: str) -> dict[str, str]:
    with DokployClient(srv.base_url, api_key) as client:
        ids = {s["name"]: s["serverId"] for s in client.server.all()}
    settle(srv)
    srv.reset_calls()
    return ids


def on(servers: dict[str, str], name: str) -> dict[str, str]:
    return {"server_name": name, "server_id": servers[name]}


def test_a_stack_on_a_server_is_created_there_and_verified_through_that_server(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, servers: dict[str, str], api_key: str
) -> None:
    outs = provider.create({**props, **STACK, **on(servers, "edge-1")}).outs or {}
    [row] = composes(srv)
    assert (row["serverId"], row["composeType"]) == (servers["edge-1"], "stack")
    assert (outs["server_name"], outs["server_id"], outs["compose_type"]) == ("edge-1", servers["edge-1"], "stack")
    # the stand-in shows a stack's services only to a query with its server's id: verification asked edge-1
    assert outs["verification"]["web"]["replicas"] == 1 and outs["healthy"] is True
    assert "swarm.getNodeApps" in procs(srv, "GET")
    read = configured(provider, api_key).read(outs["compose_id"], {k: v for k, v in outs.items() if k not in ("server_name", "server_id")})
    assert (read.outs or {})["server_id"] == servers["edge-1"] and (read.outs or {})["server_name"] == "edge-1"


def test_moving_between_modes_or_servers_is_a_replacement_that_deletes_first(
    provider: ComposeProjectProvider, props: dict[str, Any], servers: dict[str, str]
) -> None:
    outs = provider.create(props).outs or {}

    def diff(**change: Any) -> tuple[bool, list[str], bool]:
        d = provider.diff(outs["compose_id"], outs, {**props, **change})
        return bool(d.changes), list(d.replaces or []), bool(d.delete_before_replace)

    assert diff(compose_type="stack") == (True, ["compose_type"], True)
    assert diff(**on(servers, "edge-1")) == (True, ["server_name"], True)
    assert diff(server_name="edge-1", server_id="") == (True, ["server_name"], True)  # a preview without a key resolves nothing
    assert diff() == (False, [], False)
    placed = provider.create({**props, "compose_name": "placed", **on(servers, "edge-1")}).outs or {}
    again = provider.diff(placed["compose_id"], placed, {**props, "compose_name": "placed", "server_name": "edge-1", "server_id": ""})
    assert again.changes is False  # the same name, its id unknown in this preview: no change
    other = {**props, "compose_name": "placed", "server_name": "edge-1", "server_id": "new"}
    recreated = provider.diff(placed["compose_id"], placed, other)
    assert list(recreated.replaces or []) == ["server_id"]  # the same name, another server (deleted and created again in Dokploy)
    unknown = provider.diff(placed["compose_id"], placed, {**props, "compose_name": "placed", **on(servers, "edge-1"),
                                                         "server_id": pulumi.output.Unknown()})
    assert (unknown.changes, list(unknown.replaces or [])) == (True, [])
    older = {k: v for k, v in outs.items() if k not in ("server_name", "server_id")}  # a state written before servers
    assert list(provider.diff(outs["compose_id"], older, props).replaces or []) == []
    assert list(provider.diff(outs["compose_id"], older, {**props, **on(servers, "edge-2")}).replaces or []) == ["server_name"]


def test_a_server_named_but_not_resolved_fails_before_any_call(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    with pytest.raises(DokployConflict, match="server 'edge-9' was not resolved to a Dokploy server id"):
        provider.create({**props, "server_name": "edge-9", "server_id": ""})
    assert procs(srv) == []


def test_a_compose_of_the_same_name_on_another_server_is_never_adopted(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, servers: dict[str, str], api_key: str
) -> None:
    with DokployClient(srv.base_url, api_key) as client:
        client.compose.create("backend", props["environment_id"], server_id=servers["edge-2"])
    with pytest.raises(DokployConflict) as err:
        provider.create({**props, **on(servers, "edge-1")})
    assert "a compose named 'backend' (" in str(err.value)
    assert "already exists in this environment on server edge-2, not on server edge-1, and Dokploy cannot move a compose" in str(err.value)
    assert [c["serverId"] for c in composes(srv)] == [servers["edge-2"]] and "compose.deploy" not in procs(srv)


def test_a_stack_delete_waits_until_its_services_are_gone(srv: FakeDokploy, api_key: str, warnings_shown: Any) -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    with DokployClient(srv.base_url, api_key, sleep=sleep, clock=lambda: now[0]) as client:
        answers = [[{"Name": "app_web", "Replicas": "1/0"}], [{"Name": "app_web", "Replicas": "0/0"}, {"Name": "other_web"}], []]
        client.swarm.node_apps = lambda *a: answers.pop(0) if answers else []  # type: ignore[method-assign]
        ComposeProjectProvider()._settle_removed(client, "app", "stack", None)
        assert now[0] == 2.0 and answers == []
        client.swarm.node_apps = lambda *a: [{"Name": "app_web"}]  # type: ignore[method-assign]
        ComposeProjectProvider(delete_settle=3)._settle_removed(client, "app", "stack", None)
    assert "compose app was deleted in Dokploy, but after 3s its services and tasks are still there: app_web" in warnings_shown()
