"""Lookup by name: one match, none (create), several (refuse to guess)."""


from __future__ import annotations

from typing import Any

import pytest
import responses
from responses import matchers

from dokploy_api import (
    DokployAmbiguous,
    DokployClient,
)
from dokploy_api.lookup import find_compose, find_or_create_environment, find_or_create_project, find_server
from tests.dokploy_api.conftest import API


def _project(pid: str, name: str, envs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"projectId": pid, "name": name, "environments": envs}


def test_find_or_create_project_refuses_to_guess_when_two_share_a_name(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/project.all", json=[_project("p1", "bizosaas", []), _project("p2", "bizosaas", []), _project("p3", "x", [])])
    with pytest.raises(DokployAmbiguous, match=r"2 projects are named 'bizosaas' \(p1, p2\)"):
        find_or_create_project(client, "bizosaas")[0]
    assert not [c for c in mocked.calls if c.request.method == "POST"]


def test_find_or_create_project_returns_existing_when_one_matches(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/project.all", json=[_project("p1", "bizosaas", [{"environmentId": "e1", "name": "production", "isDefault": True}])])
    assert find_or_create_project(client, "bizosaas")[0]["projectId"] == "p1"
    assert find_or_create_project(client, "bizosaas")[1] is False  # found, not created


def test_find_or_create_project_creates_with_production_env_when_missing(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/project.all", json=[])
    created = {
        "project": {"projectId": "p9", "name": "new"},
        "environment": {"environmentId": "e9", "name": "production", "isDefault": True},
    }
    mocked.post(f"{API}/project.create", json=created, match=[matchers.json_params_matcher({"name": "new"})])
    project, created = find_or_create_project(client, "new")
    assert created is True
    assert project["projectId"] == "p9"
    assert find_or_create_environment(client, project, "production")[0]["environmentId"] == "e9"


def test_find_or_create_environment_uses_default_env_when_production(client: DokployClient) -> None:
    project = _project(
        "p1", "x", [{"environmentId": "e2", "name": "staging"}, {"environmentId": "e1", "name": "prod-renamed", "isDefault": True}]
    )
    assert find_or_create_environment(client, project, "production")[0]["environmentId"] == "e1"
    assert find_or_create_environment(client, project, "staging")[0]["environmentId"] == "e2"


def test_find_or_create_environment_creates_when_missing(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{API}/environment.create",
        json={"environmentId": "e3", "name": "qa"},
        match=[matchers.json_params_matcher({"projectId": "p1", "name": "qa"})],
    )
    assert find_or_create_environment(client, _project("p1", "x", []), "qa")[0]["environmentId"] == "e3"


def test_find_compose_matches_by_name_when_environment_has_several(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(
        f"{API}/environment.one", json={"compose": [{"composeId": "c1", "name": "backend"}, {"composeId": "c2", "name": "frontend"}]}
    )
    assert find_compose(client, "e1", "frontend")["composeId"] == "c2"
    assert find_compose(client, "e1", "nope") is None


def test_find_compose_refuses_to_guess_when_names_collide(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/environment.one", json={"compose": [{"composeId": "c1", "name": "backend"}, {"composeId": "c2", "name": "backend"}]})
    with pytest.raises(DokployAmbiguous, match="2 composes are named 'backend'"):
        find_compose(client, "e1", "backend")


def test_find_server_by_name_refuses_to_guess_and_says_none_when_missing(client: DokployClient, mocked: responses.RequestsMock) -> None:
    rows = [{"serverId": "s2", "name": "edge-2"}, {"serverId": "s1", "name": "edge-1"}, {"serverId": "s3", "name": "edge-2"}]
    mocked.get(f"{API}/server.all", json=rows)
    assert find_server(client, "edge-1") == rows[1]
    assert find_server(client, "edge-9") is None
    with pytest.raises(DokployAmbiguous) as err:
        find_server(client, "edge-2")
    assert str(err.value) == "server.all: 2 servers are named 'edge-2' (s2, s3); rename all but one in Dokploy"
