"""deploy_and_wait: one deploy, that deployment followed to its end, never re-sent."""


from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import responses

from dokploy_api import (
    DeploymentFailed,
    DeploymentLost,
    DeploymentTimeout,
    DokployClient,
    DokployNotFound,
    DokployServerError,
    DokployUnauthorized,
    DokployUnreachable,
)
from dokploy_api.deploy import deploy_and_wait
from tests.dokploy_api.conftest import API, BASE, FakeTime, _conn_refused, _err


class DeployScript:
    """Scripted deployment history: `steps` is what allByCompose shows after the deploy call, poll by poll."""

    def __init__(
        self, mocked: responses.RequestsMock, before: list[dict[str, Any]], steps: list[list[dict[str, Any]]], logs: str = "",
        clock: Callable[[], float] | None = None, lost_at: float | None = None,
    ) -> None:
        self.clock = clock
        self.lost_at = lost_at
        """When (on ``clock``) a restart Dokploy's client did not see emptied the queue."""
        self.before = before
        self.steps = steps
        self.deployed = 0
        self.polls = 0
        self.queued = True
        """Whether deployment.queueList has the job of compose c1 (a restart empties Dokploy's in-memory queue)."""
        self.queue_reads = 0
        self.queue_missing = False
        mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=self.all_by_compose)
        mocked.add_callback("GET", f"{API}/deployment.readLogs", callback=lambda _r: (200, {}, json.dumps(logs)))
        mocked.add_callback("GET", f"{API}/deployment.queueList", callback=self.queue_list)

    def queue_list(self, _request: Any) -> Any:
        self.queue_reads += 1
        if self.queue_missing:  # an older Dokploy, or a key without the deployment read permission
            return 404, {}, json.dumps(_err("Not found", "NOT_FOUND", 404))
        jobs = [{"id": "job-1", "name": "deployments", "data": {"composeId": "c1", "applicationType": "compose"}, "state": "active"}]
        lost = self.lost_at is not None and self.clock is not None and self.clock() >= self.lost_at
        return 200, {}, json.dumps(jobs if self.queued and not lost else [])

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


def test_deploy_and_wait_reports_a_restart_when_dokploy_cancelled_the_deployment_at_start(
    client: DokployClient, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")], [_dep("d1", "cancelled")]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentLost) as info:
        deploy_and_wait(client, "c1", timeout=60, poll_interval=1, label="compose project backend (backend-x1y2z3)")
    assert str(info.value) == (
        "Dokploy restarted during the deploy of compose project backend (backend-x1y2z3); its deployment d1 will not finish "
        "(Dokploy marked it cancelled when it started again); the deployment log is empty"
    )
    assert (info.value.deployment_id, info.value.deployment_status, info.value.cause) == ("d1", "cancelled", "restart")


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


def _outage_client(api_key: str, fake_time: FakeTime, bound: float = 120.0) -> DokployClient:
    return DokployClient(BASE, api_key, sleep=fake_time.sleep, clock=fake_time.clock, jitter=lambda: 0.5, unreachable_timeout=bound,
                         unreachable_setting="dokployUnreachableTimeout")


def _down_between(fake_time: FakeTime, start: float, end: float, answer: Callable[[Any], Any], *,
                  refused: Callable[[], Any] = lambda: _conn_refused()) -> Callable[[Any], Any]:
    """A callback that fails (``refused``) while the fake clock is in [start, end), else answers."""

    def callback(request: Any) -> Any:
        if start <= fake_time.now < end:
            failure = refused()
            if isinstance(failure, BaseException):
                raise failure
            return failure
        return answer(request)

    return callback


def test_deploy_and_wait_fails_at_once_when_dokploy_came_back_without_the_job(
    api_key: str, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    client = _outage_client(api_key, fake_time)
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")]], logs="Pulling web")
    mocked.remove("GET", f"{API}/deployment.allByCompose")

    def restarted(request: Any) -> Any:
        if fake_time.now >= 1003:
            script.queued = False  # the restart emptied the in-memory queue; the row stays "running"
        return script.all_by_compose(request)

    mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=_down_between(fake_time, 1003, 1020, restarted))
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentLost) as info:
        deploy_and_wait(client, "c1", timeout=600, poll_interval=1, label="compose project backend (backend-x1y2z3)")
    assert str(info.value) == (
        "Dokploy restarted during the deploy of compose project backend (backend-x1y2z3); its deployment d1 will not finish "
        "(the job is gone from Dokploy's deployment queue, which is kept in memory); last log lines:\n    Pulling web"
    )
    assert info.value.cause == "restart" and script.deployed == 1
    assert 1020 <= fake_time.now < 1025  # as soon as Dokploy answered again: not the 600 s timeout
    assert [o.kind for o in client.transport.outages.seen] == ["unreachable"]


def test_deploy_and_wait_sees_a_lost_deployment_at_the_next_queue_check_when_the_restart_went_unnoticed(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")]], clock=fake_time.clock, lost_at=1004)
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentLost, match=r"^Dokploy restarted during the deploy of compose c1; its deployment d1 will not finish"):
        deploy_and_wait(client, "c1", timeout=600, poll_interval=1, queue_check=10)
    assert 1010 <= fake_time.now < 1012 and script.queue_reads == 2  # when the row appeared (the job there), then at 10 s


def test_deploy_and_wait_does_not_trust_a_queue_that_never_shows_the_job(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")]] * 20 + [[_dep("d1", "done")]])
    script.queued = False  # Dokploy Cloud runs a remote server's deploy outside the queue
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    assert deploy_and_wait(client, "c1", timeout=600, poll_interval=1, queue_check=10)["status"] == "done"
    assert script.queue_reads == 1


def test_deploy_and_wait_says_a_queued_job_was_lost_when_no_row_ever_appeared(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[_dep("old", "done")], steps=[[]], clock=fake_time.clock, lost_at=1005)
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentLost) as info:
        deploy_and_wait(client, "c1", timeout=600, poll_interval=1, queue_check=3)
    assert str(info.value) == (
        "Dokploy restarted during the deploy of compose c1; the deployment it had queued was lost and will not run "
        "(the job is gone from Dokploy's deployment queue, which is kept in memory)"
    )
    assert info.value.deployment_id is None and 1006 <= fake_time.now < 1008


def test_deploy_and_wait_follows_the_row_when_the_job_finished_between_the_queue_and_the_rows(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    # the job leaves the queue at 1010, after writing its outcome, which the rows read before show "running" still
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")]] * 11 + [[_dep("d1", "done")]],
                          clock=fake_time.clock, lost_at=1010)
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    assert deploy_and_wait(client, "c1", timeout=600, poll_interval=1, queue_check=10)["status"] == "done"
    assert script.queue_reads == 2 and script.polls == 13  # the row was read again after the queue, then once more


def test_deploy_and_wait_ignores_a_stale_running_row_of_an_earlier_lost_deployment(
    client: DokployClient, mocked: responses.RequestsMock
) -> None:
    stale = _dep("stale", "running", title="pulumi update 0123456789ab")
    script = DeployScript(mocked, before=[stale], steps=[[_dep("d1", "running")], [_dep("d1", "done")]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    assert deploy_and_wait(client, "c1", title="pulumi update 0123456789ab", timeout=60, poll_interval=1)["deploymentId"] == "d1"


def test_deploy_and_wait_names_the_database_when_dokploy_refused_the_key_while_its_database_was_down(
    api_key: str, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    client = _outage_client(api_key, fake_time)
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")]])
    mocked.remove("GET", f"{API}/deployment.allByCompose")
    down = (1002, 1012)

    def lost(request: Any) -> Any:
        if fake_time.now >= down[0]:
            script.queued = False  # the job could not write its outcome and returned: its row stays "running"
        return script.all_by_compose(request)

    gate = lambda: (401, {}, '{"message":"Unauthorized"}')  # noqa: E731
    mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=_down_between(fake_time, *down, lost, refused=gate))
    health_down = (500, {}, json.dumps({"error": {"json": {"message": "connect ECONNREFUSED 10.0.1.7:5432", "code": -32603}}}))
    health_up = (200, {}, json.dumps({"result": {"data": {"json": {"status": "ok"}}}}))
    mocked.add_callback("GET", f"{BASE}/api/trpc/settings.health",
                        callback=_down_between(fake_time, *down, lambda _r: health_up, refused=lambda: health_down))
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentLost) as info:
        deploy_and_wait(client, "c1", timeout=600, poll_interval=1)
    assert str(info.value).startswith(
        "Dokploy's database went away during the deploy of compose c1; its deployment d1 will not finish "
        "(its job left Dokploy's deployment queue without recording an outcome)"
    )
    assert info.value.cause == "database" and fake_time.now < 1015
    assert [(o.kind, o.detail) for o in client.transport.outages.seen] == [
        ("database", "settings.health: connect ECONNREFUSED 10.0.1.7:5432 (500)")
    ]


def test_deploy_and_wait_fails_naming_the_url_and_the_wait_when_dokploy_stays_away_longer_than_the_bound(
    api_key: str, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    client = _outage_client(api_key, fake_time, bound=30)
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")]])
    mocked.remove("GET", f"{API}/deployment.allByCompose")
    mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=_down_between(fake_time, 1003, 10**9, script.all_by_compose))
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DokployUnreachable) as info, client.doing("waiting for the deploy of compose project backend (backend-x1y2z3)"):
        deploy_and_wait(client, "c1", timeout=600, poll_interval=1)
    assert str(info.value) == (
        "deployment.allByCompose: Dokploy at https://dokploy.test did not answer for 30s while waiting for the deploy of compose "
        "project backend (backend-x1y2z3) (connection refused): it is down or restarting; gave up after 30s (dokployUnreachableTimeout)"
    )
    assert 1033 <= fake_time.now <= 1034 and info.value.kind == "unreachable"


def test_deploy_and_wait_takes_a_silent_log_as_lost_only_when_the_queue_cannot_be_read(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")]], logs="Pulling web")
    script.queue_missing = True
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    silent = r"will not finish \(its log has not changed for 30s and Dokploy's deployment queue cannot be read\)"
    with pytest.raises(DeploymentLost, match=silent):
        deploy_and_wait(client, "c1", timeout=600, poll_interval=1, queue_check=10, log_silence=30)
    assert 1030 <= fake_time.now < 1032 and script.queue_reads == 1  # the queue, read once the row appeared: unreadable


def test_deploy_and_wait_keeps_waiting_while_the_log_grows_and_says_it_cannot_tell(
    client: DokployClient, mocked: responses.RequestsMock
) -> None:
    lines = iter(range(10**6))
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")]])
    script.queue_missing = True
    mocked.remove("GET", f"{API}/deployment.readLogs")
    mocked.add_callback("GET", f"{API}/deployment.readLogs", callback=lambda _r: (200, {}, json.dumps(f"Waiting {next(lines)}")))
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentTimeout, match=r"still 'running' after 60s \(Dokploy may still be running it\)"):
        deploy_and_wait(client, "c1", timeout=60, poll_interval=1, queue_check=10, log_silence=30)
