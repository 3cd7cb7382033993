"""DokployProjectProvider against the Dokploy stand-in: found or created once, removed only when ours and empty."""

from __future__ import annotations

from typing import Any

import pytest

from components.dokploy_project import DokployProjectProvider
from dokploy_api import DokployAmbiguous, DokployClient
from dokploy_api.lookup import find_or_create_project
from testkit.dokploy import FakeDokploy
from tests.components.conftest import FAST_CLIENT, configured, procs, settle


@pytest.fixture
def project_props(srv: FakeDokploy, api_key: str) -> dict[str, Any]:
    return {
        "dokploy_url": srv.base_url,
        "api_key": api_key,
        "project_name": "bizosaas-p",
        "environment_name": "production",
        "allow_insecure_http": False,
    }


@pytest.fixture
def client(srv: FakeDokploy, api_key: str) -> DokployClient:
    return DokployClient(srv.base_url, api_key)


def projects(srv: FakeDokploy) -> list[dict[str, Any]]:
    return srv.state.snapshot()["projects"]


def test_create_makes_the_project_with_its_production_environment_when_none_exists(project_props: dict[str, Any], srv: FakeDokploy) -> None:
    result = DokployProjectProvider(client_options=FAST_CLIENT).create(project_props)
    outs = result.outs or {}
    [project] = projects(srv)
    assert result.id == outs["project_id"] == project["projectId"]
    assert outs["created_project"] is True and outs["created_environment"] is False  # production comes with the project
    [env] = srv.state.snapshot()["environments"]
    assert outs["environment_id"] == env["environmentId"] and env["isDefault"] is True
    assert "api_key" not in outs


def test_create_adopts_the_one_project_of_that_name_when_it_exists(
    project_props: dict[str, Any], srv: FakeDokploy, client: DokployClient
) -> None:
    existing, _ = find_or_create_project(client, "bizosaas-p")
    settle(srv)
    srv.reset_calls()
    outs = DokployProjectProvider(client_options=FAST_CLIENT).create(project_props).outs or {}
    assert outs["project_id"] == existing["projectId"] and outs["created_project"] is False
    assert len(projects(srv)) == 1 and srv.write_calls == 0


def test_create_refuses_to_guess_when_two_projects_share_the_name(
    project_props: dict[str, Any], srv: FakeDokploy, client: DokployClient
) -> None:
    client.project.create("bizosaas-p")
    client.project.create("bizosaas-p")
    with pytest.raises(
        DokployAmbiguous, match=r"project.all: 2 projects are named 'bizosaas-p' \(\S+, \S+\); rename or remove all but one"
    ):
        DokployProjectProvider(client_options=FAST_CLIENT).create(project_props)


def test_create_adds_a_named_environment_and_says_it_created_only_that(project_props: dict[str, Any], srv: FakeDokploy) -> None:
    outs = DokployProjectProvider(client_options=FAST_CLIENT).create({**project_props, "environment_name": "staging"}).outs or {}
    env = next(e for e in srv.state.snapshot()["environments"] if e["environmentId"] == outs["environment_id"])
    assert env["name"] == "staging" and env["isDefault"] is False
    assert outs["created_project"] is True and outs["created_environment"] is True


def test_delete_removes_the_project_it_created_when_empty(project_props: dict[str, Any], srv: FakeDokploy, api_key: str) -> None:
    provider = DokployProjectProvider(client_options=FAST_CLIENT)
    outs = provider.create(project_props).outs or {}
    configured(provider, api_key).delete(outs["project_id"], outs)
    assert projects(srv) == []


def test_delete_keeps_a_project_that_still_holds_services_and_says_so(
    project_props: dict[str, Any], srv: FakeDokploy, api_key: str, client: DokployClient, warnings_shown: Any
) -> None:
    provider = DokployProjectProvider(client_options=FAST_CLIENT)
    outs = provider.create(project_props).outs or {}
    client.compose.create("someone-elses", outs["environment_id"])
    configured(provider, api_key).delete(outs["project_id"], outs)
    assert len(projects(srv)) == 1
    assert "Dokploy project 'bizosaas-p' was kept: it still holds 1 service(s) this stack does not manage" in warnings_shown()


def test_delete_keeps_an_adopted_project_but_removes_the_environment_it_created(
    project_props: dict[str, Any], srv: FakeDokploy, api_key: str, client: DokployClient, warnings_shown: Any
) -> None:
    find_or_create_project(client, "bizosaas-p")
    provider = DokployProjectProvider(client_options=FAST_CLIENT)
    outs = provider.create({**project_props, "environment_name": "qa"}).outs or {}
    assert outs["created_project"] is False and outs["created_environment"] is True
    configured(provider, api_key).delete(outs["project_id"], outs)
    assert len(projects(srv)) == 1 and [e["name"] for e in srv.state.snapshot()["environments"]] == ["production"]
    assert "was kept (this stack did not create it); its environment 'qa' was removed" in warnings_shown()


def test_delete_of_a_project_already_gone_is_fine(
    project_props: dict[str, Any], srv: FakeDokploy, api_key: str, client: DokployClient
) -> None:
    provider = DokployProjectProvider(client_options=FAST_CLIENT)
    outs = provider.create(project_props).outs or {}
    client.project.remove(outs["project_id"])
    configured(provider, api_key).delete(outs["project_id"], outs)
    assert projects(srv) == []


def test_read_reports_a_deleted_project_as_gone_and_a_lost_environment_as_drift(
    project_props: dict[str, Any], srv: FakeDokploy, api_key: str, client: DokployClient
) -> None:
    provider = configured(DokployProjectProvider(client_options=FAST_CLIENT), api_key)
    outs = provider.create({**project_props, "environment_name": "qa"}).outs or {}
    same = provider.read(outs["project_id"], outs)
    assert same.id == outs["project_id"] and same.inputs is None
    client.environment.remove(outs["environment_id"])
    drifted = provider.read(outs["project_id"], outs)
    assert drifted.outs["environment_id"] == "" and drifted.inputs is not None
    client.project.remove(outs["project_id"])
    assert provider.read(outs["project_id"], outs).id == ""


def test_diff_replaces_on_a_new_name_and_makes_no_call(project_props: dict[str, Any], srv: FakeDokploy) -> None:
    provider = DokployProjectProvider(client_options=FAST_CLIENT)
    outs = provider.create(project_props).outs or {}
    settle(srv)
    srv.reset_calls()
    assert provider.diff(outs["project_id"], outs, project_props).changes is False
    renamed = provider.diff(outs["project_id"], outs, {**project_props, "project_name": "other"})
    assert (renamed.changes, renamed.replaces, renamed.delete_before_replace) == (True, ["project_name"], False)
    assert procs(srv) == []


def test_an_environment_removed_by_hand_is_recreated_by_the_next_up(
    project_props: dict[str, Any], srv: FakeDokploy, api_key: str, client: DokployClient
) -> None:
    """Issue 22: refresh empties the lost environment's id; the diff must not ignore it, and update recreates it."""
    provider = configured(DokployProjectProvider(client_options=FAST_CLIENT), api_key)
    props = {**project_props, "environment_name": "qa"}
    outs = provider.create(props).outs or {}
    client.environment.remove(outs["environment_id"])
    refreshed = provider.read(outs["project_id"], outs).outs
    diff = provider.diff(outs["project_id"], refreshed, props)
    assert (diff.changes, diff.replaces) == (True, [])
    again = provider.update(outs["project_id"], refreshed, props).outs or {}
    live = {e["name"]: e["environmentId"] for e in client.project.one(outs["project_id"])["environments"]}
    assert again["environment_id"] == live["qa"] != outs["environment_id"]
    assert again["created_environment"] is True
    assert provider.diff(outs["project_id"], again, props).changes is False
