"""Router request bodies and answer shapes."""


from __future__ import annotations

import responses
from responses import matchers

from dokploy_api import (
    DokployClient,
)
from tests.dokploy_api.conftest import API


def test_registry_create_sends_cloud_type_and_null_prefix_when_called(client: DokployClient, mocked: responses.RequestsMock) -> None:
    expected = {
        "registryName": "ghcr",
        "registryUrl": "ghcr.io",
        "username": "me",
        "password": "pw",
        "registryType": "cloud",
        "imagePrefix": None,
    }
    mocked.post(f"{API}/registry.create", json={"registryId": "r1"}, match=[matchers.json_params_matcher(expected)])
    assert client.registry.create("ghcr", "ghcr.io", "me", "pw")["registryId"] == "r1"


def test_read_logs_returns_empty_string_when_answer_is_not_text(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/deployment.readLogs", body=b"", match=[matchers.query_param_matcher({"deploymentId": "d1", "tail": "50"})])
    assert client.deployment.read_logs("d1", tail=50) == ""


def test_containers_by_app_name_match_sends_app_type_and_server_when_given(client: DokployClient, mocked: responses.RequestsMock) -> None:
    rows = [{"containerId": "0123456789ab", "name": "app-web-1", "state": "running", "status": "Up 3 seconds (healthy)"}, "junk"]
    params = {"appName": "compose-x-1", "appType": "docker-compose", "serverId": "srv1"}
    mocked.get(f"{API}/docker.getContainersByAppNameMatch", json=rows, match=[matchers.query_param_matcher(params)])
    assert client.docker.containers_by_app_name_match("compose-x-1", "docker-compose", "srv1") == rows[:1]
    mocked.get(f"{API}/docker.getContainersByAppNameMatch", json=[], match=[matchers.query_param_matcher({"appName": "a"})])
    assert client.docker.containers_by_app_name_match("a") == []


def test_get_config_is_none_when_dokploy_answers_an_empty_body(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/docker.getConfig", body=b"", match=[matchers.query_param_matcher({"containerId": "gone"})])
    assert client.docker.config("gone") is None
    mocked.get(f"{API}/docker.getConfig", json={"Id": "abc"}, match=[matchers.query_param_matcher({"containerId": "abc"})])
    assert client.docker.config("abc") == {"Id": "abc"}


def test_node_apps_keeps_service_rows_and_reads_an_empty_body_as_none(client: DokployClient, mocked: responses.RequestsMock) -> None:
    row = {"ID": "x", "Image": "r/web@sha256:" + "a" * 64, "Mode": "replicated", "Name": "app_web", "Ports": "", "Replicas": "1/1"}
    mocked.get(f"{API}/swarm.getNodeApps", json=[row, {"ID": "no name"}], match=[matchers.query_param_matcher({"serverId": "s"})])
    assert client.swarm.node_apps("s") == [row]
    mocked.get(f"{API}/swarm.getNodeApps", body=b"", match=[matchers.query_param_matcher({})])
    assert client.swarm.node_apps() == []


def test_compose_read_logs_asks_for_a_tail_of_one_container(client: DokployClient, mocked: responses.RequestsMock) -> None:
    params = {"composeId": "c1", "containerId": "abc", "tail": "10", "since": "all"}
    mocked.get(f"{API}/compose.readLogs", json="2026-01-01T00:00:00.000000000Z hello\n", match=[matchers.query_param_matcher(params)])
    assert client.compose.read_logs("c1", "abc", tail=10) == "2026-01-01T00:00:00.000000000Z hello\n"
    mocked.get(f"{API}/docker.getStackContainersByAppName", json=[{"containerId": "t1", "name": "app_web.1"}])
    assert client.docker.stack_containers("app") == [{"containerId": "t1", "name": "app_web.1"}]
