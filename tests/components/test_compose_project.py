"""ComposeProjectProvider / RegistryProvider against the Dokploy stand-in (testkit.dokploy).

Two ways in: the provider methods called directly, and the same flows through the real Pulumi
dynamic-provider host (`python -m pulumi.dynamic`) over gRPC, with the provider pickled by dill
into `__provider` exactly as the engine sends it. Every fault ends in a clear error or a
successful retry; no test waits on a real deploy for more than a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dill
import grpc
import pulumi
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from dokploy_api.client import (
    DeploymentFailed,
    DeploymentTimeout,
    DokployClient,
    DokployConfigError,
    DokployConnectionError,
    DokployNotFound,
    DokployServerError,
    DokployUnauthorized,
)
from components.dokploy_provider import (
    COMPOSE_INPUTS,
    ComposeProject,
    ComposeProjectArgs,
    ComposeProjectProvider,
    DokployRegistry,
    RegistryArgs,
    RegistryProvider,
    sha256_text,
)
from probes.health import HealthCheckFailed
from testkit.dokploy import FakeDokploy

ROOT = Path(__file__).resolve().parents[2]
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
URN = "urn:pulumi:test::bizosaas-deploy::pulumi-python:dynamic/dokploy:ComposeProject::backend"
REG_URN = "urn:pulumi:test::bizosaas-deploy::pulumi-python:dynamic/dokploy:Registry::registry"

FAST_CLIENT = {"backoff": 0.05, "max_backoff": 0.4, "timeout": (2.0, 5.0)}
FAST_HEALTH = {"interval": 0.02, "max_interval": 0.1}
FAST_DEPLOY = {"unsure_grace": 1.5, "log_lines": 20}


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def api_key() -> str:
    return secrets.token_hex(20)


@pytest.fixture
def env_secrets() -> dict[str, str]:
    return {"DATABASE_URL": f"postgresql://app:{secrets.token_hex(12)}@db:5432/app", "JWT_SECRET": secrets.token_hex(16)}


@pytest.fixture
def srv(api_key: str) -> Iterator[FakeDokploy]:
    server = FakeDokploy(api_keys={api_key}, docker=False, deploy_start_delay=0.05, deploy_duration=0.05)
    server.start()
    try:
        yield server
    finally:
        server.restart()  # releases a stuck job, if a test left one
        server.stop()


class HealthService:
    """Loopback HTTP service whose /health status a test can flip."""

    def __init__(self) -> None:
        self.status = 200
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = b"ok" if outer.status == 200 else b"upstream not ready"
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def health() -> Iterator[HealthService]:
    service = HealthService()
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def provider() -> ComposeProjectProvider:
    return ComposeProjectProvider(client_options=dict(FAST_CLIENT), health_options=dict(FAST_HEALTH), deploy_options=dict(FAST_DEPLOY))


def compose_yaml(web_digest: str = DIGEST_A) -> str:
    return (
        "services:\n"
        "  web:\n"
        f"    image: 127.0.0.1:5000/bizosaas/web@{web_digest}\n"
        "    environment:\n"
        "      DATABASE_URL: ${DATABASE_URL}\n"
        "  worker:\n"
        f"    image: 127.0.0.1:5000/bizosaas/worker@{DIGEST_A}\n"
    )


def env_text(values: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in {**values, "LOG_LEVEL": "INFO"}.items())


@pytest.fixture
def props(srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]) -> dict[str, Any]:
    return {
        "dokploy_url": srv.base_url,
        "api_key": api_key,
        "project_name": "bizosaas-test",
        "environment_name": "production",
        "compose_name": "backend",
        "compose_file": compose_yaml(),
        "env": env_text(env_secrets),
        "services": {
            "web": {"image": f"127.0.0.1:5000/bizosaas/web@{DIGEST_A}", "ports": ["8001:8001"], "env_keys": ["DATABASE_URL"], "health": ""},
            "worker": {"image": f"127.0.0.1:5000/bizosaas/worker@{DIGEST_A}", "ports": [], "env_keys": [], "health": ""},
        },
        "health_urls": {},
        "compose_type": "docker-compose",
        "deploy_timeout": 10.0,
        "poll_interval": 0.05,
        "health_timeout": 2.0,
        "rollback_on_failure": False,
        "allow_insecure_http": False,
        "delete_volumes": False,
    }


def settle(srv: FakeDokploy) -> list[tuple[str, str, int]]:
    """The server records a call just after answering it: wait until the record is complete."""
    last = -1
    while last != len(srv.calls):
        last = len(srv.calls)
        time.sleep(0.05)
    return list(srv.calls)


def counts(srv: FakeDokploy) -> dict[str, int]:
    calls = settle(srv)
    return {
        "reads": sum(1 for m, _, _ in calls if m == "GET"),
        "writes": sum(1 for m, _, _ in calls if m == "POST"),
    }


def procs(srv: FakeDokploy, method: str | None = None) -> list[str]:
    return [p for m, p, _ in settle(srv) if method is None or m == method]


def eventually_count(srv: FakeDokploy, procedure: str, expected: int, timeout: float = 5.0) -> bool:
    """A delayed call is recorded only once its answer is sent: wait for it, then check the exact count."""
    deadline = time.monotonic() + timeout
    while procs(srv).count(procedure) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return procs(srv).count(procedure) == expected


def composes(srv: FakeDokploy) -> list[dict[str, Any]]:
    with srv.state.lock:
        return [dict(c) for c in srv.state.composes.values()]


def deployments(srv: FakeDokploy) -> list[dict[str, Any]]:
    with srv.state.lock:
        return [dict(d) for d in srv.state.deployments.values()]


def assert_clean(text: str, api_key: str, env_secrets: dict[str, str]) -> None:
    assert api_key not in text
    for value in env_secrets.values():
        assert value not in text


def configured(provider: ComposeProjectProvider | RegistryProvider, api_key: str) -> Any:
    provider.configure(ConfigureRequest(Config({"bizosaas:dokployApiKey": api_key}, "bizosaas-deploy")))
    return provider


# ------------------------------------------------------------------------------------ check


def test_check_accepts_valid_inputs_when_complete(provider: ComposeProjectProvider, props: dict[str, Any]) -> None:
    assert provider.check({}, props).failures == []


@pytest.mark.parametrize(
    ("override", "prop", "reason"),
    [
        ({"dokploy_url": "ftp://dokploy"}, "dokploy_url", "should start with https://"),
        ({"dokploy_url": "http://dokploy.example.com"}, "dokploy_url", "refusing plain http:// to dokploy.example.com"),
        ({"project_name": ""}, "project_name", "should be a non-empty string"),
        ({"compose_name": " backend"}, "compose_name", "should not start or end with spaces"),
        ({"compose_type": "swarm"}, "compose_type", "should be one of docker-compose, stack"),
        ({"compose_file": ""}, "compose_file", "should be non-empty compose YAML"),
        ({"health_urls": {"web": "ftp://x"}}, "health_urls", "web: should be an http(s) URL"),
        ({"deploy_timeout": 0}, "deploy_timeout", "should be a number >= 1 (seconds)"),
        ({"rollback_on_failure": "yes"}, "rollback_on_failure", "should be true or false"),
        ({"services": {"web": "image"}}, "services", "should map each service name to a summary object"),
        ({"api_key": ""}, "api_key", "is required"),
    ],
)
def test_check_names_the_property_when_input_is_invalid(
    provider: ComposeProjectProvider, props: dict[str, Any], override: dict[str, Any], prop: str, reason: str
) -> None:
    failures = provider.check({}, {**props, **override}).failures
    assert [f.property for f in failures] == [prop]
    assert failures[0].reason.startswith(f"{prop}: ") and reason in failures[0].reason


def test_check_allows_plain_http_when_opted_in(provider: ComposeProjectProvider, props: dict[str, Any]) -> None:
    assert provider.check({}, {**props, "dokploy_url": "http://dokploy.lan:3000", "allow_insecure_http": True}).failures == []


def test_check_never_echoes_env_content_when_a_line_is_bad(
    provider: ComposeProjectProvider, props: dict[str, Any], env_secrets: dict[str, str]
) -> None:
    bad = f"A=1\nthis line leaks {env_secrets['JWT_SECRET']}\n"
    failures = provider.check({}, {**props, "env": bad}).failures
    assert [(f.property, f.reason) for f in failures] == [("env", "env: line 2 is not KEY=value")]


def test_check_skips_unknown_values_when_previewing(provider: ComposeProjectProvider, props: dict[str, Any]) -> None:
    unknown = pulumi.output.Unknown()
    assert provider.check({}, {**props, "compose_file": unknown, "env": unknown, "services": unknown}).failures == []


# ------------------------------------------------------------------------------------ create / diff / update


def test_create_deploys_once_and_returns_outputs_when_fresh(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]
) -> None:
    result = provider.create(props)
    outs = result.outs or {}
    assert result.id == outs["compose_id"]
    assert outs["deployment_status"] == "done" and outs["healthy"] is True and outs["deployment_finished_at"]
    assert outs["compose_sha256"] == sha256_text(props["compose_file"]) and outs["env_sha256"] == sha256_text(props["env"])
    assert outs["app_name"] and outs["project_id"] and outs["environment_id"] and outs["verified_at"].endswith("Z")
    assert "api_key" not in outs
    # env text is only under "env" (marked secret), nowhere else
    assert_clean(json.dumps({k: v for k, v in outs.items() if k != "env"}), api_key, env_secrets)
    assert api_key not in json.dumps(outs)
    [row] = composes(srv)
    assert (row["name"], row["sourceType"], row["composeFile"], row["env"]) == ("backend", "raw", props["compose_file"], props["env"])
    assert row["createEnvFile"] is True and row["composeStatus"] == "done"
    assert procs(srv, "POST") == ["project.create", "compose.create", "compose.update", "compose.saveEnvironment", "compose.deploy"]
    assert len(deployments(srv)) == 1


def test_create_reuses_project_and_production_env_when_they_exist(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    first = provider.create(props).outs or {}
    second = provider.create({**props, "compose_name": "frontend"}).outs or {}
    assert (first["project_id"], first["environment_id"]) == (second["project_id"], second["environment_id"])
    assert procs(srv, "POST").count("project.create") == 1


def test_create_uses_a_named_environment_when_not_production(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    outs = provider.create({**props, "environment_name": "staging"}).outs or {}
    with DokployClient(srv.base_url, api_key) as client:
        env = client.environment_one(outs["environment_id"])
    assert env["name"] == "staging" and env["isDefault"] is False


def test_noop_diff_makes_zero_api_calls_when_nothing_changed(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = provider.create(props).outs or {}
    settle(srv)
    srv.reset_calls()
    olds = {**outs, "__provider": "pickled"}
    news = {**props, "__provider": "pickled-too"}
    assert provider.check(olds, news).failures == []
    diff = provider.diff(outs["compose_id"], olds, news)
    assert (diff.changes, diff.replaces) == (False, [])
    # an update with identical inputs (e.g. `pulumi up --target`) touches nothing either
    update = provider.update(outs["compose_id"], olds, news).outs or {}
    assert {k: update[k] for k in COMPOSE_INPUTS if k in update} == {k: outs[k] for k in COMPOSE_INPUTS if k in outs}
    assert update["deployment_id"] == outs["deployment_id"]
    assert settle(srv) == [] and srv.write_calls == 0


def test_key_rotation_needs_no_update_when_only_api_key_changed(provider: ComposeProjectProvider, props: dict[str, Any]) -> None:
    outs = provider.create(props).outs or {}
    assert provider.diff(outs["compose_id"], outs, {**props, "api_key": secrets.token_hex(20)}).changes is False


def test_one_service_change_writes_compose_and_redeploys_once_when_image_changes(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = provider.create(props).outs or {}
    settle(srv)
    srv.reset_calls()
    news = {**props, "compose_file": compose_yaml(DIGEST_B)}
    news["services"] = {**props["services"], "web": {**props["services"]["web"], "image": f"127.0.0.1:5000/bizosaas/web@{DIGEST_B}"}}
    diff = provider.diff(outs["compose_id"], outs, news)
    assert (diff.changes, diff.replaces) == (True, [])
    assert settle(srv) == []
    new_outs = provider.update(outs["compose_id"], outs, news).outs or {}
    assert procs(srv, "POST") == ["compose.update", "compose.redeploy"]
    assert procs(srv, "GET")[:2] == ["compose.one", "deployment.allByCompose"]
    assert new_outs["compose_sha256"] == sha256_text(news["compose_file"]) and new_outs["env_sha256"] == outs["env_sha256"]
    assert new_outs["deployment_id"] != outs["deployment_id"] and new_outs["deployment_status"] == "done"
    assert composes(srv)[0]["composeFile"] == news["compose_file"]
    assert provider.diff(outs["compose_id"], new_outs, news).changes is False


def test_env_change_saves_environment_only_when_compose_unchanged(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = provider.create(props).outs or {}
    settle(srv)
    srv.reset_calls()
    news = {**props, "env": props["env"] + "NEW_FLAG=on\n"}
    assert provider.diff(outs["compose_id"], outs, news).changes is True
    provider.update(outs["compose_id"], outs, news)
    assert procs(srv, "POST") == ["compose.saveEnvironment", "compose.redeploy"]
    assert composes(srv)[0]["env"] == news["env"]


def test_settings_change_needs_no_api_call_when_only_timeouts_change(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = provider.create(props).outs or {}
    settle(srv)
    srv.reset_calls()
    news = {**props, "deploy_timeout": 900.0, "services": {**props["services"], "web": {**props["services"]["web"], "ports": []}}}
    assert provider.diff(outs["compose_id"], outs, news).changes is True
    new_outs = provider.update(outs["compose_id"], outs, news).outs or {}
    assert new_outs["deploy_timeout"] == 900.0 and new_outs["services"]["web"]["ports"] == []
    assert settle(srv) == []


@pytest.mark.parametrize("key", ["project_name", "environment_name", "compose_name", "compose_type", "dokploy_url"])
def test_diff_replaces_deleting_first_when_identity_changes(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, key: str
) -> None:
    outs = provider.create(props).outs or {}
    value = {"compose_type": "stack", "dokploy_url": srv.base_url.replace("127.0.0.1", "localhost")}.get(key, "other")
    diff = provider.diff(outs["compose_id"], outs, {**props, key: value})
    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, [key], True)


def test_diff_ignores_trailing_slash_when_url_is_the_same(provider: ComposeProjectProvider, props: dict[str, Any]) -> None:
    outs = provider.create(props).outs or {}
    assert provider.diff(outs["compose_id"], outs, {**props, "dokploy_url": props["dokploy_url"] + "/"}).changes is False


@pytest.mark.parametrize("key", ["compose_file", "env", "services", "health_urls", "project_name"])
def test_diff_assumes_change_without_replace_when_value_unknown(provider: ComposeProjectProvider, props: dict[str, Any], key: str) -> None:
    outs = provider.create(props).outs or {}
    diff = provider.diff(outs["compose_id"], outs, {**props, key: pulumi.output.Unknown()})
    assert (diff.changes, diff.replaces) == (True, [])
    nested = {**props, "services": {"web": {"image": rpc.UNKNOWN}}}
    assert provider.diff(outs["compose_id"], outs, nested).changes is True


def test_update_verifies_health_when_urls_are_given(provider: ComposeProjectProvider, props: dict[str, Any], health: HealthService) -> None:
    outs = provider.create({**props, "health_urls": {"web": health.url}}).outs or {}
    assert outs["healthy"] is True and health.hits >= 1


# ------------------------------------------------------------------------------------ faults


def test_failed_create_is_adopted_by_the_next_create_when_deploy_errored(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]
) -> None:
    srv.faults.deploy_outcome = "error"
    srv.faults.deploy_error_log_line = "Error: pull access denied for 127.0.0.1:5000/bizosaas/web"
    with pytest.raises(DeploymentFailed) as info:
        provider.create(props)
    msg = str(info.value)
    assert "compose.deploy: deployment" in msg and "ended 'error'; last log lines:" in msg
    assert "Error: pull access denied for 127.0.0.1:5000/bizosaas/web" in msg
    assert "stays in Dokploy; the next `pulumi up` adopts it" in msg
    assert_clean(msg, api_key, env_secrets)
    srv.faults.deploy_outcome = None
    outs = provider.create(props).outs or {}
    assert len(composes(srv)) == 1 and outs["compose_id"] == composes(srv)[0]["composeId"]
    assert procs(srv, "POST").count("compose.deploy") == 1 and procs(srv, "POST").count("compose.redeploy") == 1
    assert procs(srv, "POST").count("compose.create") == 1


def test_create_converges_when_compose_update_answers_500(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    srv.faults.fail_next("compose.update", status=500)
    with pytest.raises(DokployServerError, match=r"compose.update: Internal server error \(500\)"):
        provider.create(props)
    assert procs(srv).count("compose.update") == 1  # a 500 is not retried
    outs = provider.create(props).outs or {}
    assert outs["deployment_status"] == "done" and len(composes(srv)) == 1 and len(deployments(srv)) == 1


def test_get_is_retried_when_compose_one_answers_502(provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy) -> None:
    outs = provider.create(props).outs or {}
    srv.faults.fail_next("compose.one", status=502, times=2)
    news = {**props, "compose_file": compose_yaml(DIGEST_B)}
    assert (provider.update(outs["compose_id"], outs, news).outs or {})["deployment_status"] == "done"
    assert [s for _, p, s in settle(srv) if p == "compose.one"] == [502, 502, 200]


def test_idempotent_write_is_retried_when_compose_update_answers_503(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = provider.create(props).outs or {}
    srv.faults.fail_next("compose.update", status=503)
    provider.update(outs["compose_id"], outs, {**props, "compose_file": compose_yaml(DIGEST_B)})
    assert [s for _, p, s in settle(srv) if p == "compose.update"][-2:] == [503, 200]


def test_deploy_is_not_resent_when_it_answered_502_and_nothing_was_queued(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]
) -> None:
    srv.faults.fail_next("compose.deploy", status=502)
    with pytest.raises(DokployServerError) as info:
        provider.create(props)
    msg = str(info.value)
    assert msg.startswith("compose.deploy: ") and "(502); no deployment appeared within 1.5s, so nothing was deployed" in msg
    assert "the deploy was not re-sent (run again)" in msg
    assert_clean(msg, api_key, env_secrets)
    assert procs(srv, "POST").count("compose.deploy") == 1 and deployments(srv) == []
    provider.create(props)
    assert len(deployments(srv)) == 1 and len(composes(srv)) == 1


def test_deploy_is_followed_not_resent_when_502_came_after_it_was_queued(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    srv.faults.fail_next("compose.deploy", status=502, apply=True)
    outs = provider.create(props).outs or {}
    assert outs["deployment_status"] == "done"
    assert procs(srv, "POST").count("compose.deploy") == 1 and len(deployments(srv)) == 1


def test_deploy_answer_lost_to_read_timeout_is_followed_when_job_was_queued(props: dict[str, Any], srv: FakeDokploy) -> None:
    provider = ComposeProjectProvider(client_options={**FAST_CLIENT, "timeout": (1.0, 0.5)}, deploy_options=dict(FAST_DEPLOY))
    srv.faults.delay("compose.deploy", seconds=1.2, after=True)
    outs = provider.create(props).outs or {}
    assert outs["deployment_status"] == "done"
    assert eventually_count(srv, "compose.deploy", 1) and len(deployments(srv)) == 1


def test_slow_read_is_retried_when_it_times_out(props: dict[str, Any], srv: FakeDokploy) -> None:
    provider = ComposeProjectProvider(client_options={**FAST_CLIENT, "timeout": (1.0, 0.5)}, deploy_options=dict(FAST_DEPLOY))
    srv.faults.delay("environment.one", seconds=1.5)
    outs = provider.create(props).outs or {}
    assert outs["deployment_status"] == "done"
    assert eventually_count(srv, "environment.one", 2)


def test_timeout_on_a_write_is_a_clear_error_when_every_retry_is_unsafe(
    props: dict[str, Any], srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]
) -> None:
    provider = ComposeProjectProvider(client_options={**FAST_CLIENT, "timeout": (1.0, 0.5)}, deploy_options=dict(FAST_DEPLOY))
    srv.faults.delay("compose.saveEnvironment", seconds=1.0)
    with pytest.raises(DokployConnectionError) as info:
        provider.create(props)
    assert str(info.value).startswith("compose.saveEnvironment: timed out waiting for the answer")
    assert_clean(str(info.value), api_key, env_secrets)
    time.sleep(0.6)
    assert (provider.create(props).outs or {})["deployment_status"] == "done"


def test_stuck_deploy_times_out_with_log_when_it_never_finishes(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]
) -> None:
    outs = provider.create(props).outs or {}
    srv.faults.deploy_outcome = "stuck"
    news = {**props, "compose_file": compose_yaml(DIGEST_B), "deploy_timeout": 1.5}
    started = time.monotonic()
    with pytest.raises(DeploymentTimeout) as info:
        provider.update(outs["compose_id"], outs, news)
    assert time.monotonic() - started < 5
    msg = str(info.value)
    assert "compose.redeploy: deployment" in msg and "still 'running' after" in msg and "Initializing deployment" in msg
    assert_clean(msg, api_key, env_secrets)
    # Dokploy restarts: the stuck deployment is cancelled; the old state retries and converges
    srv.faults.deploy_outcome = None
    assert srv.restart()
    new_outs = provider.update(outs["compose_id"], outs, news).outs or {}
    assert new_outs["deployment_status"] == "done"
    assert procs(srv, "POST").count("compose.redeploy") == 2


def test_restart_cancelling_the_running_deploy_is_a_clear_failure_when_it_happens_mid_wait(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    srv.faults.deploy_outcome = "stuck"

    def restart_when_running() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(d["status"] == "running" for d in deployments(srv)):
            time.sleep(0.02)
        srv.restart(downtime=0.3)

    thread = threading.Thread(target=restart_when_running)
    thread.start()
    with pytest.raises(DeploymentFailed) as info:
        provider.create(props)
    thread.join()
    assert "ended 'cancelled'" in str(info.value) and info.value.deployment_status == "cancelled"
    srv.faults.deploy_outcome = None
    assert (provider.create(props).outs or {})["deployment_status"] == "done"
    assert len(composes(srv)) == 1


def test_rate_limited_key_is_a_clear_401_when_every_call_is_refused(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]
) -> None:
    srv.faults.rate_limited = True
    with pytest.raises(DokployUnauthorized) as info:
        provider.create(props)
    msg = str(info.value)
    assert msg.startswith("project.all: Unauthorized (401): the API key is missing, wrong, expired or rate-limited")
    assert_clean(msg, api_key, env_secrets)
    assert len(settle(srv)) == 1 and srv.write_calls == 0


def test_wrong_key_is_a_clear_401_when_key_unknown(provider: ComposeProjectProvider, props: dict[str, Any]) -> None:
    wrong = secrets.token_hex(20)
    with pytest.raises(DokployUnauthorized) as info:
        provider.create({**props, "api_key": wrong})
    assert wrong not in str(info.value)


def test_failed_health_check_names_service_and_keeps_old_state_when_update_breaks_it(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, health: HealthService
) -> None:
    base = {**props, "health_urls": {"web": health.url}}
    outs = provider.create(base).outs or {}
    health.status = 503
    news = {**base, "compose_file": compose_yaml(DIGEST_B), "health_timeout": 0.5}
    with pytest.raises(HealthCheckFailed) as info:
        provider.update(outs["compose_id"], outs, news)
    assert str(info.value).startswith(f"health check failed after 0.5s: web: GET {health.url} -> HTTP 503 'upstream not ready'")
    assert "rolled back" not in str(info.value)
    # the engine keeps the old outputs: the next up sees the change again and retries
    assert provider.diff(outs["compose_id"], outs, news).changes is True
    health.status = 200
    assert (provider.update(outs["compose_id"], outs, news).outs or {})["healthy"] is True


class _RollbackProbe(ComposeProjectProvider):
    """Lets the failing deploy fail, then lets the rollback deploy succeed."""

    srv: Any = None

    def _rollback(self, *args: Any) -> str:
        type(self).srv.faults.deploy_outcome = None
        return super()._rollback(*args)


def test_rollback_restores_previous_compose_and_env_when_deploy_fails(
    props: dict[str, Any], srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]
) -> None:
    _RollbackProbe.srv = srv
    provider = _RollbackProbe(client_options=dict(FAST_CLIENT), health_options=dict(FAST_HEALTH), deploy_options=dict(FAST_DEPLOY))
    base = {**props, "rollback_on_failure": True}
    outs = provider.create(base).outs or {}
    settle(srv)
    srv.reset_calls()
    srv.faults.deploy_outcome = "error"
    news = {**base, "compose_file": compose_yaml(DIGEST_B), "env": base["env"] + "BROKEN=" + secrets.token_hex(8) + "\n"}
    with pytest.raises(DeploymentFailed) as info:
        provider.update(outs["compose_id"], outs, news)
    msg = str(info.value)
    assert "ended 'error'" in msg and "rolled back to the previous compose file and env: deployment" in msg and msg.endswith("done")
    assert_clean(msg, api_key, env_secrets)
    [row] = composes(srv)
    assert (row["composeFile"], row["env"]) == (base["compose_file"], base["env"])
    assert procs(srv, "POST") == [
        "compose.update",
        "compose.saveEnvironment",
        "compose.redeploy",
        "compose.update",
        "compose.saveEnvironment",
        "compose.redeploy",
    ]


def test_rollback_restores_previous_compose_when_health_fails(props: dict[str, Any], srv: FakeDokploy, health: HealthService) -> None:
    provider = ComposeProjectProvider(client_options=dict(FAST_CLIENT), health_options=dict(FAST_HEALTH), deploy_options=dict(FAST_DEPLOY))
    base = {**props, "rollback_on_failure": True, "health_urls": {"web": health.url}, "health_timeout": 0.5}
    outs = provider.create(base).outs or {}
    health.status = 500
    with pytest.raises(HealthCheckFailed, match=r"rolled back to the previous compose file and env: deployment \S+ done"):
        provider.update(outs["compose_id"], outs, {**base, "compose_file": compose_yaml(DIGEST_B)})
    assert composes(srv)[0]["composeFile"] == base["compose_file"]


# ------------------------------------------------------------------------------------ read / delete


def test_refresh_reports_no_drift_when_dokploy_matches(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    outs = provider.create(props).outs or {}
    settle(srv)
    srv.reset_calls()
    result = configured(provider, api_key).read(outs["compose_id"], outs)
    assert result.id == outs["compose_id"] and result.inputs is None
    assert result.outs is not None and result.outs["drift"] == [] and result.outs["compose_sha256"] == outs["compose_sha256"]
    assert srv.write_calls == 0 and procs(srv) == ["compose.one"]
    assert provider.diff(result.id, result.outs, props).changes is False


def test_refresh_reports_ui_edits_as_drift_and_next_up_repairs_them_when_changed_in_dokploy(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    outs = provider.create(props).outs or {}
    with DokployClient(srv.base_url, api_key) as ui:
        ui.compose_update(outs["compose_id"], composeFile="services: {hacked: {image: evil}}\n")
        ui.compose_save_environment(outs["compose_id"], "EDITED=in-ui\n")
    result = configured(provider, api_key).read(outs["compose_id"], outs)
    assert result.inputs is not None and "api_key" not in result.inputs
    assert result.inputs["compose_file"] == "services: {hacked: {image: evil}}\n" and result.inputs["env"] == "EDITED=in-ui\n"
    assert result.outs is not None and result.outs["env_sha256"] == sha256_text("EDITED=in-ui\n")
    assert provider.diff(result.id, result.outs, props).changes is True
    provider.update(result.id, result.outs, props)
    [row] = composes(srv)
    assert (row["composeFile"], row["env"]) == (props["compose_file"], props["env"])


def test_refresh_flags_failed_ui_deploy_so_next_up_redeploys_when_last_deploy_errored(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    outs = provider.create(props).outs or {}
    srv.faults.deploy_outcome = "error"
    with DokployClient(srv.base_url, api_key) as ui:
        ui.compose_deploy(outs["compose_id"], title="from the UI")
    assert srv.wait_idle(5)
    srv.faults.deploy_outcome = None
    result = configured(provider, api_key).read(outs["compose_id"], outs)
    assert result.outs is not None and result.outs["deployment_status"] == "error" and result.outs["drift"]
    assert provider.diff(result.id, result.outs, props).changes is True
    settle(srv)
    srv.reset_calls()
    new_outs = provider.update(result.id, result.outs, props).outs or {}
    assert new_outs["deployment_status"] == "done" and new_outs["drift"] == []
    assert procs(srv, "POST") == ["compose.redeploy"]


def test_refresh_reports_resource_gone_when_compose_deleted_in_dokploy(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    outs = provider.create(props).outs or {}
    with DokployClient(srv.base_url, api_key) as ui:
        ui.compose_delete(outs["compose_id"])
    result = configured(provider, api_key).read(outs["compose_id"], outs)
    assert result.id == "" and result.outs == {}


def test_update_says_to_refresh_when_compose_was_deleted_in_dokploy(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    outs = provider.create(props).outs or {}
    with DokployClient(srv.base_url, api_key) as ui:
        ui.compose_delete(outs["compose_id"])
    with pytest.raises(DokployNotFound, match=r"compose.one: Compose not found \(404\); it was deleted in Dokploy: run `pulumi refresh`"):
        provider.update(outs["compose_id"], outs, {**props, "compose_file": compose_yaml(DIGEST_B)})


def test_import_builds_state_from_dokploy_when_only_id_and_inputs_are_known(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = provider.create(props).outs or {}
    imported = provider.read(outs["compose_id"], {"dokploy_url": props["dokploy_url"], "api_key": props["api_key"]})
    assert imported.outs is not None and imported.inputs is not None
    assert (imported.outs["project_name"], imported.outs["environment_name"], imported.outs["compose_name"]) == (
        "bizosaas-test",
        "production",
        "backend",
    )
    assert imported.inputs["compose_file"] == props["compose_file"] and "api_key" not in imported.outs


def test_delete_removes_compose_and_tolerates_404_when_already_gone(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    outs = provider.create(props).outs or {}
    configured(provider, api_key).delete(outs["compose_id"], outs)
    assert composes(srv) == []
    provider.delete(outs["compose_id"], outs)
    assert [s for _, p, s in settle(srv) if p == "compose.delete"] == [200, 404]


def test_delete_uses_env_var_key_when_config_has_none(
    props: dict[str, Any], srv: FakeDokploy, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = ComposeProjectProvider(client_options=dict(FAST_CLIENT), deploy_options=dict(FAST_DEPLOY))
    outs = provider.create(props).outs or {}
    monkeypatch.setenv("DOKPLOY_API_KEY", api_key)
    provider.delete(outs["compose_id"], outs)
    assert composes(srv) == []


def test_read_without_any_key_source_is_a_clear_error_when_unconfigured(
    provider: ComposeProjectProvider, props: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    outs = provider.create(props).outs or {}
    monkeypatch.delenv("DOKPLOY_API_KEY", raising=False)
    with pytest.raises(DokployConfigError, match=r"read: the Dokploy API key is not kept in the state \(by design\)"):
        provider.read(outs["compose_id"], outs)


# ------------------------------------------------------------------------------------ registry


@pytest.fixture
def registry_props(srv: FakeDokploy, api_key: str) -> dict[str, Any]:
    return {
        "dokploy_url": srv.base_url,
        "api_key": api_key,
        "registry_name": "ghcr",
        "registry_url": "ghcr.io",
        "username": "bizoholic-digital",
        "password": "ghp_" + secrets.token_hex(16),
        "allow_insecure_http": False,
    }


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


# ------------------------------------------------------------------------------------ pulumi resource under mocks


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
            api_key=key,
            project_name="p",
            environment_name="production",
            compose_name="backend",
            compose_file="services: {}\n",
            env=f"A={token}\n",
            services={"web": {"image": "x"}},
            health_urls={},
        ),
    )
    registry = DokployRegistry("registry", RegistryArgs("https://dokploy.test", key, "ghcr", "ghcr.io", "me", token))

    def check(_: Any) -> None:
        by_type = {r.type: r for r in monitor.requests if r.type.startswith("pulumi-python:dynamic")}
        compose = by_type["pulumi-python:dynamic/dokploy:ComposeProject"]
        registry = by_type["pulumi-python:dynamic/dokploy:Registry"]
        assert list(compose.additionalSecretOutputs) == ["env"]
        assert list(registry.additionalSecretOutputs) == ["password_sha256"]
        for request, secret_keys in ((compose, ("api_key", "env", "__provider")), (registry, ("api_key", "password", "__provider"))):
            props = rpc.deserialize_properties(request.object)
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


# ------------------------------------------------------------------------------------ through the dynamic-provider host (gRPC)


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
    h = ProviderHost({"bizosaas:dokployApiKey": api_key})
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
    assert settle(srv) == []

    changed_news = {**news, "compose_file": compose_yaml(DIGEST_B)}
    changed = stub.Diff(provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=_struct(changed_news)), timeout=30)
    assert changed.changes == provider_pb2.DiffResponse.DIFF_SOME and list(changed.replaces) == []
    renamed = stub.Diff(
        provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=_struct({**news, "project_name": "other"})),
        timeout=30,
    )
    assert list(renamed.replaces) == ["project_name"] and renamed.deleteBeforeReplace is True
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
        "rate_limited": "DokployUnauthorized: project.all: Unauthorized (401): the API key is missing, wrong, expired or rate-limited",
        "deploy_error": "Error: image pull failed for 127.0.0.1:5000/bizosaas/web",
        "stuck": "DeploymentTimeout: compose.deploy: deployment",
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
