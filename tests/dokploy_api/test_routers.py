"""Router request bodies and answer shapes."""


from __future__ import annotations

import pytest
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


def test_server_all_and_one_and_compose_create_on_a_server(client: DokployClient, mocked: responses.RequestsMock) -> None:
    rows = [{"serverId": "s1", "name": "edge-1", "totalSum": 0}, "junk"]
    mocked.get(f"{API}/server.all", json=rows, match=[matchers.query_param_matcher({})])
    assert client.server.all() == rows[:1]
    mocked.get(f"{API}/server.one", json={"serverId": "s1", "name": "edge-1"}, match=[matchers.query_param_matcher({"serverId": "s1"})])
    assert client.server.one("s1")["name"] == "edge-1"
    body = {"name": "backend", "environmentId": "e1", "composeType": "stack", "sourceType": "raw", "serverId": "s1"}
    mocked.post(f"{API}/compose.create", json={"composeId": "c1", "serverId": "s1"}, match=[matchers.json_params_matcher(body)])
    assert client.compose.create("backend", "e1", compose_type="stack", server_id="s1")["serverId"] == "s1"
    plain = {"name": "frontend", "environmentId": "e1", "composeType": "docker-compose", "sourceType": "raw"}
    mocked.post(f"{API}/compose.create", json={"composeId": "c2", "serverId": None}, match=[matchers.json_params_matcher(plain)])
    assert client.compose.create("frontend", "e1")["composeId"] == "c2"


def test_registry_update_logs_in_on_a_server_when_given_its_id(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/registry.update", json=True, match=[matchers.json_params_matcher({"registryId": "r1", "serverId": "s1"})])
    assert client.registry.update("r1", server_id="s1") is True


def test_domain_calls_send_what_the_openapi_document_says(client: DokployClient, mocked: responses.RequestsMock) -> None:
    from core import domains

    route = {"host": "api.example.com", "path": "/", "port": 8001, "https": True, "certificate": "letsencrypt", "cert_resolver": "",
             "health": "/health"}
    create = domains.create_body("c1", "brain-api", route)
    mocked.post(f"{API}/domain.create", json={"domainId": "d1", "uniqueConfigKey": 3}, match=[matchers.json_params_matcher(create)])
    assert client.domain.create(create)["domainId"] == "d1"
    update = domains.update_body("d1", "brain-api", {**route, "port": 8002})
    mocked.post(f"{API}/domain.update", json={"domainId": "d1", "port": 8002}, match=[matchers.json_params_matcher(update)])
    assert client.domain.update(update)["port"] == 8002
    mocked.post(f"{API}/domain.delete", json={"domainId": "d1"}, match=[matchers.json_params_matcher({"domainId": "d1"})])
    assert client.domain.delete("d1")["domainId"] == "d1"
    rows = [{"domainId": "d2", "host": "a.example.com", "compose": {"composeId": "c1"}}, "junk"]
    mocked.get(f"{API}/domain.byComposeId", json=rows, match=[matchers.query_param_matcher({"composeId": "c1"})])
    assert client.domain.by_compose_id("c1") == rows[:1]
    mocked.get(f"{API}/domain.one", json={"domainId": "d2"}, match=[matchers.query_param_matcher({"domainId": "d2"})])
    assert client.domain.one("d2") == {"domainId": "d2"}
    owned = [{"domainId": "d2", "host": "a.example.com", "serviceOwnerType": "compose", "projectName": "p"}]
    mocked.get(f"{API}/overview.domains", json=owned, match=[matchers.query_param_matcher({})])
    assert client.overview.domains() == owned


def test_domain_update_is_resent_after_a_gateway_error_and_create_is_not(client: DokployClient, mocked: responses.RequestsMock) -> None:
    from dokploy_api import DokployServerError

    mocked.post(f"{API}/domain.update", status=502)
    mocked.post(f"{API}/domain.update", json={"domainId": "d1"})
    assert client.domain.update({"domainId": "d1", "host": "a.example.com"}) == {"domainId": "d1"}
    mocked.post(f"{API}/domain.create", status=502)
    with pytest.raises(DokployServerError):  # not re-sent: it may have created the domain already
        client.domain.create({"host": "a.example.com"})
    assert [c.request.url for c in mocked.calls].count(f"{API}/domain.create") == 1
