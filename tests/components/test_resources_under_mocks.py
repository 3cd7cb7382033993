"""ComposeProject and DokployRegistry declared under Pulumi mocks: type tokens, secrets, pickling."""


from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import dill
import pulumi
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from components.compose_project import ComposeProject, ComposeProjectArgs, ComposeProjectProvider
from components.registry_credentials import DokployRegistry, RegistryArgs
from tests.components.conftest import (
    FAST_CLIENT,
)


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.requests: list[Any] = []

    def RegisterResource(self, request: Any) -> Any:
        self.requests.append(request)
        return super().RegisterResource(request)


@pulumi.runtime.test
def test_resources_register_secrets_and_type_tokens_when_declared() -> Any:
    mocks = _Mocks()
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, preview=False, monitor=monitor)
    key, token = secrets.token_hex(8), secrets.token_hex(8)
    compose = ComposeProject(
        "backend",
        ComposeProjectArgs(
            dokploy_url="https://dokploy.test",
            project_name="p",
            environment_name="production",
            project_id="p-1",
            environment_id="e-1",
            compose_name="backend",
            compose_file="services: {}\n",
            env=f"A={token}\n",
            services={"web": {"image": "x"}},
            health_urls={},
        ),
    )
    registry = DokployRegistry("registry", RegistryArgs("https://dokploy.test", "ghcr", "ghcr.io", "me", token))

    def check(_: Any) -> None:
        by_type = {r.type: r for r in monitor.requests if r.type.startswith("pulumi-python:dynamic")}
        compose = by_type["pulumi-python:dynamic/dokploy:ComposeProject"]
        registry = by_type["pulumi-python:dynamic/dokploy:Registry"]
        assert list(compose.additionalSecretOutputs) == ["env", "env_sha256"]
        assert list(registry.additionalSecretOutputs) == ["password_sha256"]
        for request, secret_keys in ((compose, ("env", "__provider")), (registry, ("password", "__provider"))):
            props = rpc.deserialize_properties(request.object)
            assert "api_key" not in props  # the key is never an input, so never in the state
            for name in secret_keys:
                assert rpc.is_rpc_secret(props[name]), name
            plain = json.dumps({k: v for k, v in props.items() if k not in secret_keys}, default=str)
            assert key not in plain and token not in plain

    return pulumi.Output.all(compose.urn, registry.urn).apply(check)


def test_provider_pickles_without_secrets_when_serialized(api_key: str) -> None:
    provider = ComposeProjectProvider(client_options=dict(FAST_CLIENT))
    blob = base64.b64decode(serialize_provider(provider))
    assert api_key.encode() not in blob
    clone = dill.loads(blob)
    assert isinstance(clone, ComposeProjectProvider) and clone.client_options == FAST_CLIENT and clone._configured_key is None
