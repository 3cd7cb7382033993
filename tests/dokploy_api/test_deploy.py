"""deploy_and_wait: one deploy, that deployment followed to its end, never re-sent."""


from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import responses

from dokploy_api import (
    DeploymentFailed,
    DeploymentTimeout,
    DokployClient,
    DokployNotFound,
    DokployServerError,
    DokployUnauthorized,
)
from dokploy_api.deploy import deploy_and_wait
from tests.dokploy_api.conftest import API, FakeTime, _err


class DeployScript:
    """Scripted deployment history: `steps` is what allByCompose shows after the deploy call, poll by poll."""

    def __init__(
        self, mocked: responses.RequestsMock, before: list[dict[str, Any]], steps: list[list[dict[str, Any]]], logs: str = ""
    ) -> None:
        self.before = before
        self.steps = steps
        self.deployed = 0
        self.polls = 0
        mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=self.all_by_compose)
        mocked.add_callback("GET", f"{API}/deployment.readLogs", callback=lambda _r: (200, {}, json.dumps(logs)))

    def all_by_compose(self, _request: Any) -> Any:
        if not self.deployed:
            return 200, {}, json.dumps(self.before)
        self.polls += 1
        rows = self.steps[min(self.polls, len(self.steps)) - 1]
        return 200, {}, json.dumps(rows + self.before)

    def deploy(self, status: int = 200) -> Callable[[Any], Any]:
        def callback(_request: Any) -> Any:
            self.deployed += 1
            return status, {}, json.dumps({"success": True, "message": "Deployment queued", "composeId": "c1"})

        return callback


def _dep(dep_id: str, status: str, title: str = "t") -> dict[str, Any]:
    return {"deploymentId": dep_id, "status": status, "title": title, "finishedAt": None if status == "running" else "2026-01-01T00:00:00Z"}


def test_deploy_and_wait_ignores_previous_deployments_when_polling(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[_dep("old", "done")], steps=[[], [_dep("new", "running")], [_dep("new", "done")]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    row = deploy_and_wait(client, "c1", title="t", timeout=60, poll_interval=2)
    assert row["deploymentId"] == "new" and script.deployed == 1
    assert fake_time.sleeps == [2, 2]


def test_deploy_and_wait_raises_with_log_tail_when_deployment_errors(
    client: DokployClient, api_key: str, mocked: responses.RequestsMock
) -> None:
    log = "\n".join(f"line {i}" for i in range(100)) + f"\nError: pull access denied {api_key}"
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")], [_dep("d1", "error")]], logs=log)
    mocked.add_callback("POST", f"{API}/compose.redeploy", callback=script.deploy())
    with pytest.raises(DeploymentFailed) as info:
        deploy_and_wait(client, "c1", redeploy=True, title="t", timeout=60, poll_interval=1, log_lines=5)
    err = info.value
    assert type(err) is DeploymentFailed
    assert (err.deployment_id, err.deployment_status) == ("d1", "error")
    assert str(err).startswith("compose.redeploy: deployment d1 of compose c1 ended 'error'; last log lines:")
    assert "Error: pull access denied ***" in str(err) and "line 96" in str(err) and "line 94" not in str(err)
    assert api_key not in str(err) and api_key not in err.log_tail


def test_deploy_and_wait_reports_cancelled_when_server_restarted(client: DokployClient, mocked: responses.RequestsMock) -> None:
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")], [_dep("d1", "cancelled")]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentFailed, match=r"ended 'cancelled'; the deployment log is empty"):
        deploy_and_wait(client, "c1", timeout=60, poll_interval=1)


def test_deploy_and_wait_times_out_with_log_when_stuck_running(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")]], logs="Pulling web\nWaiting for healthy")
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentTimeout) as info:
        deploy_and_wait(client, "c1", timeout=30, poll_interval=4)
    assert "deployment d1 of compose c1 still 'running' after 30s (Dokploy keeps running it)" in str(info.value)
    assert "Waiting for healthy" in str(info.value) and info.value.deployment_id == "d1"
    assert script.deployed == 1 and fake_time.now - 1000.0 == 30


def test_deploy_and_wait_times_out_when_no_deployment_starts(client: DokployClient, mocked: responses.RequestsMock) -> None:
    script = DeployScript(mocked, before=[_dep("old", "done")], steps=[[]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentTimeout, match=r"no deployment of compose c1 started within 10s"):
        deploy_and_wait(client, "c1", timeout=10, poll_interval=3)


def test_deploy_and_wait_follows_queued_deploy_when_answer_was_lost(client: DokployClient, mocked: responses.RequestsMock) -> None:
    script = DeployScript(mocked, before=[], steps=[[], [_dep("d1", "running")], [_dep("d1", "done")]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy(status=502))
    assert deploy_and_wait(client, "c1", timeout=600, poll_interval=1)["deploymentId"] == "d1"
    assert script.deployed == 1


def test_deploy_and_wait_never_resends_when_deploy_failed_and_nothing_queued(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[], steps=[[]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy(status=502))
    with pytest.raises(DokployServerError, match=r"compose.deploy: .*\(502\); no deployment appeared within 5s, so nothing was deployed"):
        deploy_and_wait(client, "c1", timeout=600, poll_interval=1, unsure_grace=5)
    assert script.deployed == 1 and fake_time.now - 1000.0 == 5


def test_deploy_and_wait_raises_at_once_when_deploy_is_rejected(client: DokployClient, mocked: responses.RequestsMock) -> None:
    DeployScript(mocked, before=[], steps=[[]])
    mocked.post(f"{API}/compose.deploy", status=404, json=_err("Compose not found", "NOT_FOUND", 404))
    with pytest.raises(DokployNotFound, match=r"compose.deploy: Compose not found \(404\)"):
        deploy_and_wait(client, "c1", timeout=600)


def test_deploy_and_wait_keeps_polling_when_a_poll_fails_transiently(client: DokployClient, mocked: responses.RequestsMock) -> None:
    polls = iter([(500, b"oops"), (200, [_dep("d1", "running")]), (200, [_dep("d1", "done")])])
    calls = {"n": 0}

    def all_by_compose(_request: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return 200, {}, "[]"
        status, body = next(polls)
        return status, {}, body if isinstance(body, bytes) else json.dumps(body)

    mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=all_by_compose)
    mocked.post(f"{API}/compose.deploy", json={"success": True})
    assert deploy_and_wait(client, "c1", timeout=60, poll_interval=1)["deploymentId"] == "d1"


def test_deploy_and_wait_stops_when_key_rejected_while_polling(client: DokployClient, mocked: responses.RequestsMock) -> None:
    answers = iter([(200, b"[]"), (401, b'{"message":"Unauthorized"}')])
    mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=lambda _r: (lambda s, b: (s, {}, b))(*next(answers)))
    mocked.post(f"{API}/compose.deploy", json={"success": True})
    with pytest.raises(DokployUnauthorized):
        deploy_and_wait(client, "c1", timeout=60, poll_interval=1)
