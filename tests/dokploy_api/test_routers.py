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
