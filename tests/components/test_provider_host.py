"""The providers through the real dynamic-provider host (`python -m pulumi.dynamic`) over gRPC, pickled as the engine sends them."""


from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components.compose_project import ComposeProjectProvider
from components.compose_project_inputs import sha256_text
from components.registry_credentials import RegistryProvider
from testkit.dokploy import FakeDokploy
from tests.components.conftest import (
    DIGEST_B,
    FAST_CLIENT,
    REG_URN,
    ROOT,
    URN,
    assert_clean,
    compose_yaml,
    composes,
    procs,
    settle,
)


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    return asyncio.run(rpc.serialize_properties(values, {}))


def _plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


class ProviderHost:
    """`python -m pulumi.dynamic` as the engine runs it (cwd = program directory)."""

    def __init__(self, config: dict[str, Any]) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PULUMI_PROJECT": "bizosaas-deploy"}
        env.pop("DOKPLOY_API_KEY", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        port = int(self.proc.stdout.readline().strip())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.stub.Configure(provider_pb2.ConfigureRequest(args=_struct(config), acceptSecrets=False), timeout=10)

    def close(self) -> None:
        self.channel.close()
        self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def host(api_key: str) -> Iterator[ProviderHost]:
    h = ProviderHost({"bizosaas-deploy:dokployApiKey": api_key})
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def pickled(provider: ComposeProjectProvider) -> str:
    return serialize_provider(provider)


def test_host_runs_full_lifecycle_with_pickled_provider_when_driven_like_the_engine(
    host: ProviderHost, pickled: str, props: dict[str, Any], srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]
) -> None:
    stub = host.stub
    news = {**props, "__provider": pickled}
    check = stub.Check(provider_pb2.CheckRequest(urn=URN, olds=_struct({}), news=_struct(news)), timeout=30)
    assert list(check.failures) == []
    created = stub.Create(provider_pb2.CreateRequest(urn=URN, properties=check.inputs), timeout=60)
    outs = _plain(created.properties)
    assert created.id == outs["compose_id"] and outs["deployment_status"] == "done" and "api_key" not in outs
    assert_clean(json.dumps({k: v for k, v in outs.items() if k not in ("env", "__provider")}), api_key, env_secrets)
    assert api_key not in json.dumps(outs)

    settle(srv)
    srv.reset_calls()
    same = stub.Diff(provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=_struct(news)), timeout=30)
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE and list(same.replaces) == []
    # Dokploy's view, read only: the compose, and the composes of its environment to read ahead (components/compose_reads.py)
    assert sorted(settle(srv)) == [("GET", "compose.one", 200), ("GET", "environment.one", 200)]

    changed_news = {**news, "compose_file": compose_yaml(DIGEST_B)}
    changed = stub.Diff(provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=_struct(changed_news)), timeout=30)
    assert changed.changes == provider_pb2.DiffResponse.DIFF_SOME and list(changed.replaces) == []
    renamed = stub.Diff(
        provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=_struct({**news, "environment_id": "other"})),
        timeout=30,
    )
    assert list(renamed.replaces) == ["environment_id"] and renamed.deleteBeforeReplace is True
    preview = stub.Diff(
        provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=_struct({**news, "env": rpc.UNKNOWN})),
        timeout=30,
    )
    assert preview.changes == provider_pb2.DiffResponse.DIFF_SOME

    updated = stub.Update(
        provider_pb2.UpdateRequest(id=created.id, urn=URN, olds=created.properties, news=_struct(changed_news)), timeout=60
    )
    new_outs = _plain(updated.properties)
    assert new_outs["compose_sha256"] == sha256_text(changed_news["compose_file"]) and new_outs["deployment_status"] == "done"
    assert procs(srv, "POST") == ["compose.update", "compose.redeploy"]

    # refresh and delete only see the outputs: the key comes from the configured stack config
    read = stub.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=updated.properties), timeout=30)
    assert read.id == created.id and _plain(read.properties)["drift"] == []
    stub.Delete(provider_pb2.DeleteRequest(id=created.id, urn=URN, properties=updated.properties), timeout=30)
    assert composes(srv) == []
    gone = stub.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=updated.properties), timeout=30)
    assert gone.id == ""


def test_host_unwraps_secret_envelopes_when_inputs_arrive_as_secrets(
    host: ProviderHost, pickled: str, props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    news = {**props, "__provider": pickled, "api_key": rpc.wrap_rpc_secret(api_key), "env": rpc.wrap_rpc_secret(props["env"])}
    created = host.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=_struct(news)), timeout=60)
    assert _plain(created.properties)["env_sha256"] == sha256_text(props["env"])
    assert composes(srv)[0]["env"] == props["env"]


@pytest.mark.parametrize("fault", ["rate_limited", "deploy_error", "stuck", "deploy_502"])
def test_host_reports_clear_errors_without_secrets_when_faults_hit(
    host: ProviderHost, pickled: str, props: dict[str, Any], srv: FakeDokploy, api_key: str, env_secrets: dict[str, str], fault: str
) -> None:
    expected = {
        "rate_limited": "environment.one: Unauthorized (401): the API key is missing, wrong, expired or rate-limited",
        "deploy_error": "Error: image pull failed for 127.0.0.1:5000/bizosaas/web",
        "stuck": "compose.deploy: deployment",
        "deploy_502": "no deployment appeared within 1.5s, so nothing was deployed",
    }[fault]
    if fault == "rate_limited":
        srv.faults.rate_limited = True
    elif fault == "deploy_error":
        srv.faults.deploy_outcome = "error"
        srv.faults.deploy_error_log_line = "Error: image pull failed for 127.0.0.1:5000/bizosaas/web"
    elif fault == "stuck":
        srv.faults.deploy_outcome = "stuck"
    else:
        srv.faults.fail_next("compose.deploy", status=502)
    news = {**props, "__provider": pickled, "deploy_timeout": 1.5}
    with pytest.raises(grpc.RpcError) as info:
        host.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=_struct(news)), timeout=60)
    details = info.value.details() or ""
    assert info.value.code() == grpc.StatusCode.UNKNOWN
    assert expected in details
    assert_clean(details, api_key, env_secrets)
    assert procs(srv, "POST").count("compose.deploy") <= 1
    # the message alone (components/host_errors.py): no traceback, no frame, no exception class, no grpc prefix
    assert "Traceback" not in details and 'File "' not in details and "Exception calling application" not in details, details
    assert not details.startswith(("Dokploy", "Deployment")), details
    if fault != "rate_limited":  # a deploy failure names the compose project by its catalog name and says what helps next
        app = composes(srv)[0]["appName"]
        assert details.startswith(f"compose project backend ({app}): compose.deploy: "), details
    if fault in ("deploy_error", "stuck"):
        assert details.endswith("\nnext: python -m deployctl status --stack <stack>"), details


def test_host_answers_a_reported_failure_with_its_message_and_a_bug_with_its_traceback(
    host: ProviderHost, pickled: str, props: dict[str, Any], srv: FakeDokploy
) -> None:
    """What components/host_errors.py relies on (pulumi 3.272.0's host answers with traceback.format_exc()): a failure
    the provider reports reaches the engine as its message alone; a bug (a property of the wrong type) keeps its traceback."""
    srv.faults.rate_limited = True
    with pytest.raises(grpc.RpcError) as reported:
        host.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=_struct({**props, "__provider": pickled})), timeout=60)
    assert (reported.value.details() or "").startswith("environment.one: Unauthorized (401)"), reported.value.details()
    srv.faults.rate_limited = False
    news = {**props, "__provider": pickled, "stability_window": "ten"}
    with pytest.raises(grpc.RpcError) as bug:
        host.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=_struct(news)), timeout=60)
    details = bug.value.details() or ""
    assert details.startswith("Traceback (most recent call last):") and "ValueError" in details, details


def test_host_registry_lifecycle_when_driven_like_the_engine(host: ProviderHost, registry_props: dict[str, Any], srv: FakeDokploy) -> None:
    pickled = serialize_provider(RegistryProvider(client_options=dict(FAST_CLIENT)))
    news = {**registry_props, "__provider": pickled}
    created = host.stub.Create(provider_pb2.CreateRequest(urn=REG_URN, properties=_struct(news)), timeout=30)
    outs = _plain(created.properties)
    assert "password" not in outs and registry_props["password"] not in json.dumps(outs)
    same = host.stub.Diff(provider_pb2.DiffRequest(id=created.id, urn=REG_URN, olds=created.properties, news=_struct(news)), timeout=30)
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
    host.stub.Delete(provider_pb2.DeleteRequest(id=created.id, urn=REG_URN, properties=created.properties), timeout=30)
    assert srv.state.registries == {}
