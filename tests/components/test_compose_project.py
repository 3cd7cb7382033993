"""ComposeProjectProvider against the Dokploy stand-in: check, create, diff, update, faults, rollback, read, delete."""


from __future__ import annotations

import json
import re
import secrets
import threading
import time
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from components.compose_project import ComposeProjectProvider
from components.compose_project_inputs import COMPOSE_INPUTS, sha256_text
from dokploy_api import (
    DeploymentFailed,
    DeploymentTimeout,
    DokployClient,
    DokployConfigError,
    DokployConnectionError,
    DokployNotFound,
    DokployServerError,
    DokployUnauthorized,
)
from probes.dokploy_runtime import VerificationFailed
from probes.health import HealthCheckFailed
from testkit.dokploy import FakeDokploy
from tests.components.conftest import (
    DIGEST_A,
    DIGEST_B,
    FAST_CLIENT,
    FAST_DEPLOY,
    FAST_HEALTH,
    FAST_VERIFY,
    HealthService,
    assert_clean,
    compose_yaml,
    composes,
    configured,
    deployments,
    eventually_count,
    procs,
    settle,
)


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
    steps = outs["timings"]
    assert set(steps) == {"write", "deploy", "healthy", "stable", "health_urls", "total"}
    assert all(seconds >= 0 for seconds in steps.values()) and steps["deploy"] > 0
    assert steps["total"] >= sum(v for k, v in steps.items() if k != "total") - 0.01
    # env text is only under "env" (marked secret), nowhere else
    assert_clean(json.dumps({k: v for k, v in outs.items() if k != "env"}), api_key, env_secrets)
    assert api_key not in json.dumps(outs)
    [row] = composes(srv)
    assert (row["name"], row["sourceType"], row["composeFile"], row["env"]) == ("backend", "raw", props["compose_file"], props["env"])
    assert row["createEnvFile"] is True and row["composeStatus"] == "done"
    assert procs(srv, "POST") == ["compose.create", "compose.update", "compose.saveEnvironment", "compose.deploy"]
    assert len(deployments(srv)) == 1


def test_create_puts_the_compose_in_the_environment_it_is_given_and_never_creates_a_project(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    first = provider.create(props).outs or {}
    second = provider.create({**props, "compose_name": "frontend"}).outs or {}
    assert {r["environmentId"] for r in composes(srv)} == {props["environment_id"]}
    assert (first["environment_id"], second["environment_id"]) == (props["environment_id"], props["environment_id"])
    assert not [p for p in procs(srv) if p.startswith(("project.", "environment.create"))]


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
    assert update["deployment_id"] == outs["deployment_id"] and update["timings"] == outs["timings"]  # the last deploy's
    settle(srv)
    # Dokploy's view, read once (the update takes what its diff read), and the read-ahead's listing of the environment
    assert sorted(procs(srv, "GET")) == ["compose.one", "environment.one"] and srv.write_calls == 0


def test_a_failed_update_left_running_is_repaired_by_the_next_plain_diff_and_update(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    """Issue 22: rollbackOnFailure off, the update to B failed after Dokploy took B; the state keeps A and the config is
    reverted to A. The stored outputs agree with the inputs, so only Dokploy's view shows that B is what it runs."""
    outs = provider.create(props).outs or {}
    compose_b = props["compose_file"] + "  # B\n"
    with provider._client(props, "test") as client:  # what the failed update left: Dokploy holds B and deployed it
        client.compose.update(outs["compose_id"], composeFile=compose_b)
    settle(srv)
    diff = provider.diff(outs["compose_id"], outs, props)
    assert (diff.changes, diff.replaces) == (True, [])
    provider.update(outs["compose_id"], outs, props)
    with provider._client(props, "test") as client:
        assert client.compose.one(outs["compose_id"])["composeFile"] == props["compose_file"]
    assert provider.diff(outs["compose_id"], outs, props).changes is False


def test_a_compose_deleted_in_dokploy_is_created_again_by_a_plain_up(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = provider.create(props).outs or {}
    with provider._client(props, "test") as client:
        client.compose.delete(outs["compose_id"])
    diff = provider.diff(outs["compose_id"], outs, props)
    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, ["compose_name"], True)


def test_without_an_api_key_the_diff_decides_from_the_state_alone(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, monkeypatch: pytest.MonkeyPatch
) -> None:
    outs = provider.create(props).outs or {}
    keyless = ComposeProjectProvider(client_options=provider.client_options)
    monkeypatch.delenv("DOKPLOY_API_KEY", raising=False)
    settle(srv)
    srv.reset_calls()
    assert keyless.diff(outs["compose_id"], outs, {k: v for k, v in props.items() if k != "api_key"}).changes is False
    assert settle(srv) == []


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
    assert sorted(procs(srv, "GET")[:2]) == ["compose.one", "deployment.allByCompose"]  # read at once
    assert new_outs["compose_sha256"] == sha256_text(news["compose_file"]) and new_outs["env_sha256"] == outs["env_sha256"]
    assert new_outs["deployment_id"] != outs["deployment_id"] and new_outs["deployment_status"] == "done"
    assert new_outs["timings"] != outs["timings"] and new_outs["timings"]["deploy"] > 0
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


def test_settings_change_writes_and_deploys_nothing_when_only_timeouts_change(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = provider.create(props).outs or {}
    settle(srv)
    srv.reset_calls()
    news = {**props, "deploy_timeout": 900.0, "services": {**props["services"], "web": {**props["services"]["web"], "ports": []}}}
    assert provider.diff(outs["compose_id"], outs, news).changes is True
    new_outs = provider.update(outs["compose_id"], outs, news).outs or {}
    assert new_outs["deploy_timeout"] == 900.0 and new_outs["services"]["web"]["ports"] == []
    settle(srv)
    assert procs(srv, "GET") == ["compose.one"] and srv.write_calls == 0  # it checks Dokploy runs what it declares


@pytest.mark.parametrize("key", ["environment_id", "compose_name", "compose_type", "dokploy_url"])
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
    assert msg.startswith("compose project backend (compose-") and "): compose.deploy: " in msg
    assert "(502); no deployment appeared within 1.5s, so nothing was deployed" in msg
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
    assert str(info.value).startswith("compose project backend (compose-")  # named by its catalog name, Dokploy's after it
    assert "): compose.saveEnvironment: timed out waiting for the answer" in str(info.value)
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
    head = r"Dokploy restarted during the deploy of compose project backend \([\w-]+\); its deployment \S+ will not finish"
    assert re.match(head, str(info.value))
    assert "(Dokploy marked it cancelled when it started again)" in str(info.value) and info.value.deployment_status == "cancelled"
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
    assert msg.startswith("environment.one: Unauthorized (401): the API key is missing, wrong, expired or rate-limited")
    assert_clean(msg, api_key, env_secrets)
    assert msg.endswith("; Dokploy's database answers (settings.health answers ok)")  # so waiting would not help
    assert settle(srv) == [("GET", "environment.one", 401), ("GET", "settings.health", 200)] and srv.write_calls == 0


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
    assert f"): health check failed after 0.5s: web: GET {health.url} -> HTTP 503 'upstream not ready'" in str(info.value)
    assert str(info.value).startswith("compose project backend (compose-")
    assert str(info.value).endswith("\nnext: python -m deployctl logs --stack <stack> web --tail 50")  # the one service that failed
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
    assert "ended 'error'" in msg and "rolled back to the previous compose file and env: deployment" in msg
    verified_again = "the previous version verified again: web, worker as deployed, healthy, stable over 0.2s"
    assert re.search(rf"env: deployment \S+ done; {verified_again}\nnext: python -m deployctl status --stack <stack>$", msg)
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
        ui.compose.update(outs["compose_id"], composeFile="services: {hacked: {image: evil}}\n")
        ui.compose.save_environment(outs["compose_id"], "EDITED=in-ui\n")
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
        ui.compose.deploy(outs["compose_id"], title="from the UI")
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
        ui.compose.delete(outs["compose_id"])
    result = configured(provider, api_key).read(outs["compose_id"], outs)
    assert result.id == "" and result.outs == {}


def test_update_says_to_refresh_when_compose_was_deleted_in_dokploy(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy, api_key: str
) -> None:
    outs = provider.create(props).outs or {}
    with DokployClient(srv.base_url, api_key) as ui:
        ui.compose.delete(outs["compose_id"])
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
    with pytest.raises(DokployConfigError, match=r"read: the Dokploy API key is never kept in the state"):
        provider.read(outs["compose_id"], outs)


# -- verification through Dokploy's API ------------------------------------------------------------


def test_create_records_what_dokploy_reports_runs(provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy) -> None:
    outs = provider.create(props).outs or {}
    app = outs["app_name"]
    assert outs["verification"] == {
        "web": {"digest": DIGEST_A, "image": f"127.0.0.1:5000/bizosaas/web@{DIGEST_A}", "health": "none", "restarts": 0, "replicas": 1,
                "window_s": 0.2, "containers": [f"{app}-web-1"]},
        "worker": {"digest": DIGEST_A, "image": f"127.0.0.1:5000/bizosaas/worker@{DIGEST_A}", "health": "none", "restarts": 0,
                   "replicas": 1, "window_s": 0.2, "containers": [f"{app}-worker-1"]},
    }
    gets = procs(srv, "GET")
    assert gets.count("docker.getContainersByAppNameMatch") >= 2 and gets.count("docker.getConfig") == 2 + 2


class _CrashAfterDeploy(ComposeProjectProvider):
    """Makes the web container of every deploy (or only of the first ``crashes`` deploys) crash-loop once it is up."""

    srv: Any = None
    crashes = 99

    def _deploy(self, client: DokployClient, compose_id: str, props: Any, **kw: Any) -> dict[str, Any]:
        row = super()._deploy(client, compose_id, props, **kw)
        cls = type(self)
        if cls.crashes > 0:
            cls.crashes -= 1
            app = client.compose.one(compose_id)["appName"]
            env = props["env"].splitlines()[0].split("=", 1)[1]
            cls.srv.containers.set(f"{app}-web-1", crash_every=0.05, log=f"fatal: cannot connect to {env}")
        return row


def crashing(srv: FakeDokploy, crashes: int) -> _CrashAfterDeploy:
    _CrashAfterDeploy.srv, _CrashAfterDeploy.crashes = srv, crashes
    return _CrashAfterDeploy(
        client_options=dict(FAST_CLIENT),
        health_options=dict(FAST_HEALTH),
        deploy_options=dict(FAST_DEPLOY),
        verify_options=dict(FAST_VERIFY),
    )


def test_a_crash_looping_service_fails_create_naming_it_with_its_log_and_no_secret(
    props: dict[str, Any], srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]
) -> None:
    with pytest.raises(VerificationFailed) as info:
        crashing(srv, 1).create({**props, "health_timeout": 0.5})
    msg = str(info.value)
    app = composes(srv)[0]["appName"]
    assert msg.startswith(f"verification failed: compose project backend ({app}): not running healthy within 0.5s: web: expected running; ")
    assert f"saw {app}-web-1 restarting with code 1" in msg and "fatal: cannot connect to ***" in msg
    assert msg.endswith("stays in Dokploy; the next `pulumi up` adopts it)\nnext: python -m deployctl logs --stack <stack> web --tail 50")
    assert_clean(msg, api_key, env_secrets)


def test_an_update_that_crashes_is_rolled_back_and_the_rollback_verified(props: dict[str, Any], srv: FakeDokploy) -> None:
    provider = crashing(srv, 0)
    base = {**props, "rollback_on_failure": True, "health_timeout": 0.5}
    outs = provider.create(base).outs or {}
    _CrashAfterDeploy.crashes = 1
    with pytest.raises(VerificationFailed) as info:
        provider.update(outs["compose_id"], outs, {**base, "compose_file": compose_yaml(DIGEST_B)})
    msg = str(info.value)
    assert "web: expected running; saw" in msg and "restarting with code 1" in msg
    assert re.search(r"rolled back to the previous compose file and env: deployment \S+ done; the previous version verified again: "
                     r"web, worker as deployed, healthy, stable over 0.2s\n"
                     r"next: python -m deployctl logs --stack <stack> web --tail 50$", msg)
    assert composes(srv)[0]["composeFile"] == base["compose_file"]


def test_a_rollback_that_fails_verification_too_says_so(props: dict[str, Any], srv: FakeDokploy) -> None:
    provider = crashing(srv, 0)
    base = {**props, "rollback_on_failure": True, "health_timeout": 0.3}
    outs = provider.create(base).outs or {}
    _CrashAfterDeploy.crashes = 2
    with pytest.raises(VerificationFailed) as info:
        provider.update(outs["compose_id"], outs, {**base, "compose_file": compose_yaml(DIGEST_B)})
    head, _, rollback = str(info.value).partition("\nrolled back to the previous compose file and env: deployment ")
    assert "not running healthy within 0.3s: web" in head
    assert " done; but the previous version FAILED verification too:\nverification failed: " in rollback
    assert "web: expected running" in rollback


def test_a_state_without_a_verification_record_is_verified_once_without_a_deploy(
    provider: ComposeProjectProvider, props: dict[str, Any], srv: FakeDokploy
) -> None:
    outs = provider.create(props).outs or {}
    older = {k: v for k, v in outs.items() if k not in ("verification", "stability_window")}  # written before this verification
    assert provider.diff(outs["compose_id"], older, props).changes is True
    settle(srv)
    srv.reset_calls()
    new_outs = provider.update(outs["compose_id"], older, props).outs or {}
    assert set(new_outs["verification"]) == {"web", "worker"} and new_outs["deployment_id"] == outs["deployment_id"]
    assert srv.write_calls == 0 and "docker.getConfig" in procs(srv, "GET")


def test_check_refuses_a_negative_stability_window(provider: ComposeProjectProvider, props: dict[str, Any]) -> None:
    failures = provider.check({}, {**props, "stability_window": -1}).failures
    assert [(f.property, f.reason) for f in failures] == [("stability_window", "stability_window: should be a number >= 0 (seconds)")]
