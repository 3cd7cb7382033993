"""What the `up` relies on Dokploy to do when Dokploy itself restarts or loses its database (see conftest for the
targets): the facts ``dokploy_api.deploy`` and ``dokploy_api.outage`` build on, checked on every target.

* ``GET /api/trpc/settings.health`` answers without a key (Dokploy's own container HEALTHCHECK uses it);
* a compose's job is in ``deployment.queueList`` for as long as its deployment row is ``running``;
* a restart empties the queue and the deployment that was running never becomes ``done`` (it stays ``running``, or
  is ``cancelled`` by a production build once started): against a real Dokploy only with
  ``DOKPLOY_RESTART_COMMAND`` (a shell command that restarts it, e.g. ``docker service update --force dokploy``);
* its database down: every keyed call answers ``401 {"message":"Unauthorized"}`` and ``settings.health`` fails,
  while ``/api/health`` answers: against a real Dokploy only with ``DOKPLOY_DB_STOP_COMMAND`` and
  ``DOKPLOY_DB_START_COMMAND`` (e.g. ``docker service scale dokploy-postgres=0`` and ``=1``).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from dokploy_api import DokployClient, DokployError
from tests.conformance.conftest import Target

pytestmark = pytest.mark.engine


def ready_after(target: Target) -> int:
    """Seconds the slow compose's first service takes to turn healthy: how long its deploy runs (``up -d`` waits for it);
    long enough on a real Dokploy for a restart command to stop it mid-deploy."""
    return 6 if target.standin is not None else 20


def slow_compose(target: Target, name: str) -> str:
    """A compose whose deploy runs ``ready_after`` seconds: ``gate`` starts only once ``web`` is healthy."""
    ready = ready_after(target)
    return (
        "services:\n"
        "  web:\n"
        f"    image: {target.image}\n    container_name: conformance-{target.run}-{name}-web\n"
        f'    command: ["/bin/sh", "-c", "sleep {ready}; mkdir -p /tmp; touch /tmp/ready; while true; do sleep 3600; done"]\n'
        '    healthcheck: {test: ["CMD", "/bin/sh", "-c", "test -f /tmp/ready"], interval: 1s, retries: 60}\n'
        f"  gate:\n    image: {target.image}\n    container_name: conformance-{target.run}-{name}-gate\n"
        '    command: ["/bin/sh", "-c", "while true; do sleep 3600; done"]\n'
        "    depends_on: {web: {condition: service_healthy}}\n"
    )


class Place:
    """One project of this module in the target, with the composes the tests made; removed at the end."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = target.client()
        created = self.client.project.create(f"{target.project_name}-restart")
        self.project_id = created["project"]["projectId"]
        self.environment_id = created["environment"]["environmentId"]
        self.composes: list[str] = []

    def compose(self, name: str) -> str:
        row = self.client.compose.create(name, self.environment_id, source_type="raw")
        self.composes.append(row["composeId"])
        self.client.compose.update(row["composeId"], sourceType="raw", composeFile=slow_compose(self.target, name))
        return str(row["composeId"])

    def jobs(self, compose_id: str) -> list[dict[str, Any]]:
        return [j for j in self.client.deployment.queue_list() if (j.get("data") or {}).get("composeId") == compose_id]

    def close(self) -> None:
        for compose_id in self.composes:
            try:
                self.client.compose.delete(compose_id)
            except DokployError as exc:
                print(f"conformance clean-up: {exc}")
        self.client.project.remove(self.project_id)
        self.client.close()


@pytest.fixture(scope="module")
def place(target: Target) -> Iterator[Place]:
    p = Place(target)
    try:
        yield p
    finally:
        p.close()


def wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (requests.RequestException, DokployError):
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:g}s")


def test_settings_health_answers_without_a_key(target: Target) -> None:
    r = requests.get(f"{target.url}/api/trpc/settings.health", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["data"]["json"] == {"status": "ok"}


def test_a_job_is_in_the_queue_for_as_long_as_its_deployment_runs(place: Place) -> None:
    compose_id = place.compose("queue")
    place.client.compose.deploy(compose_id, title="conformance queue")
    seen_queued = bool(place.jobs(compose_id))
    deadline = time.monotonic() + ready_after(place.target) + 120
    while time.monotonic() < deadline:
        queued = bool(place.jobs(compose_id))  # read the queue first, then the rows
        rows = place.client.deployment.all_by_compose(compose_id)
        seen_queued = seen_queued or queued
        if rows and rows[0]["status"] == "running":
            assert queued, f"deployment {rows[0]['deploymentId']} is running but its job is not in deployment.queueList"
        if rows and rows[0]["status"] in ("done", "error"):
            break
        time.sleep(0.5)
    assert rows and rows[0]["status"] == "done", rows
    assert seen_queued, "the job never showed in deployment.queueList"
    assert place.jobs(compose_id) == []


def _restart(target: Target) -> None:
    if target.standin is not None:
        target.standin.restart(downtime=3.0)
        return
    command = os.environ.get("DOKPLOY_RESTART_COMMAND")
    if not command:
        pytest.skip("set DOKPLOY_RESTART_COMMAND (e.g. `docker service update --force dokploy`) to restart this Dokploy")
    subprocess.run(command, shell=True, check=True, timeout=600)


def test_a_restart_empties_the_queue_and_the_running_deployment_never_finishes(place: Place, target: Target) -> None:
    if target.standin is None and not os.environ.get("DOKPLOY_RESTART_COMMAND"):
        pytest.skip("set DOKPLOY_RESTART_COMMAND (e.g. `docker service update --force dokploy`) to restart this Dokploy")
    compose_id = place.compose("restart")
    place.client.compose.deploy(compose_id, title="conformance restart")
    [row] = wait(lambda: [r for r in place.client.deployment.all_by_compose(compose_id) if r["status"] == "running"], 60, "running")
    _restart(target)
    with DokployClient(target.url, target.key, allow_insecure_http=target.standin is not None, unreachable_timeout=600) as client:
        wait(lambda: client.project.all() is not None, 600, "Dokploy answering again")
        time.sleep(ready_after(target) + 5)  # past the time the deploy needed: had anything kept it going, it would be done
        status = {r["deploymentId"]: r["status"] for r in client.deployment.all_by_compose(compose_id)}[row["deploymentId"]]
        jobs = [j for j in client.deployment.queue_list() if (j.get("data") or {}).get("composeId") == compose_id]
    assert status in ("running", "cancelled"), status  # running: a development build; cancelled: production (at start-up)
    assert jobs == []


def test_the_database_down_refuses_every_key_and_fails_settings_health(place: Place, target: Target) -> None:
    stop, start = os.environ.get("DOKPLOY_DB_STOP_COMMAND"), os.environ.get("DOKPLOY_DB_START_COMMAND")
    if target.standin is None and not (stop and start):
        pytest.skip("set DOKPLOY_DB_STOP_COMMAND and DOKPLOY_DB_START_COMMAND to stop and start this Dokploy's database")
    keyed = f"{target.url}/api/project.all"
    try:
        if target.standin is not None:
            target.standin.faults.database_down = True
        elif stop:
            subprocess.run(stop, shell=True, check=True, timeout=300)
        wait(lambda: requests.get(keyed, headers={"x-api-key": target.key}, timeout=10).status_code == 401, 120, "401")
        r = requests.get(keyed, headers={"x-api-key": target.key}, timeout=10)
        assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"})
        assert requests.get(f"{target.url}/api/trpc/settings.health", timeout=30).status_code == 500
        assert requests.get(f"{target.url}/api/health", timeout=10).json() == {"ok": True}
    finally:
        if target.standin is not None:
            target.standin.faults.database_down = False
        elif start:
            subprocess.run(start, shell=True, check=True, timeout=300)
    wait(lambda: requests.get(keyed, headers={"x-api-key": target.key}, timeout=10).status_code == 200, 300, "the key accepted again")
