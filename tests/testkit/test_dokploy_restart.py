"""The Dokploy stand-in restarting and losing its database the way Dokploy v0.30.2 does.

A restart (``FakeDokploy.restart``, ``faults.at(..., "restart")``, and a real restart of the ``python -m
testkit.dokploy`` process): in-flight requests cut, the port refusing connections, the in-memory queue lost,
running rows left ``running`` (development build) or cancelled once started (production build), the local
commands killed and a remote server's run left going. The database down: 401 to every key, the public
``settings.health`` failing, jobs unable to write their outcome.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from testkit import ports
from testkit.dokploy import FakeDokploy
from testkit.dokploy.dockerops import DockerRunner
from testkit.dokploy.faults import DATABASE_ERROR
from tests.testkit.test_dokploy_standin import ROOT, Api, make_compose, wait_for


@pytest.fixture
def key() -> str:
    return "restart-" + os.urandom(12).hex()


@pytest.fixture
def srv(key: str) -> Iterator[FakeDokploy]:
    server = _server(key)
    yield server
    server.stop()


@pytest.fixture
def api(srv: FakeDokploy, key: str) -> Api:
    return Api(srv.base_url, key)


def _server(key: str, node_env: str = "production", **kw: object) -> FakeDokploy:
    srv = FakeDokploy(api_keys={key}, latency=0, deploy_start_delay=0.05, node_env=node_env, **kw)  # type: ignore[arg-type]
    srv.start()
    return srv


def _rows(api: Api, cid: str) -> list[tuple[str, str]]:
    return [(r["title"], r["status"]) for r in api.ok("GET", "deployment.allByCompose", composeId=cid)]


def test_a_development_build_keeps_the_running_row_running_forever_and_loses_the_queue(key: str) -> None:
    srv = _server(key, "development")
    try:
        api = Api(srv.base_url, key)
        _, cid = make_compose(api)
        srv.faults.deploy_outcome = "stuck"  # a deploy that is still running when Dokploy goes down
        api.ok("POST", "compose.deploy", {"composeId": cid, "title": "running"})
        api.ok("POST", "compose.deploy", {"composeId": cid, "title": "waiting"})
        wait_for(lambda: _rows(api, cid))
        restart = threading.Thread(target=srv.restart, kwargs={"downtime": 0.6})
        restart.start()
        time.sleep(0.3)
        with pytest.raises(requests.ConnectionError):  # the port refuses connections while it is down
            requests.get(f"{srv.base_url}/api/health", timeout=1)
        restart.join()
        assert srv.wait_idle(1)
        time.sleep(0.3)
        assert _rows(api, cid) == [("running", "running")]  # never finished, never cancelled; the waiting job is gone
        assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "running"
        assert api.ok("GET", "deployment.queueList") == []
        srv.faults.deploy_outcome = None
        api.ok("POST", "compose.deploy", {"composeId": cid, "title": "after"})
        wait_for(lambda: _rows(api, cid)[0] == ("after", "done"))
        assert [what for _, what in srv.events] == [
            "restart: down for 0.6s, keeping running deployments", "restart: listening again"
        ]
    finally:
        srv.stop()


def test_a_production_build_cancels_the_running_row_only_once_started(key: str) -> None:
    srv = _server(key)
    try:
        api = Api(srv.base_url, key)
        _, cid = make_compose(api)
        srv.faults.deploy_outcome = "stuck"
        api.ok("POST", "compose.deploy", {"composeId": cid, "title": "running"})
        wait_for(lambda: _rows(api, cid))
        restart = threading.Thread(target=srv.restart, kwargs={"downtime": 0.2, "startup": 1.0})
        restart.start()
        time.sleep(0.6)  # listening again, not yet through initCancelDeployments
        assert _rows(api, cid) == [("running", "running")] and api.ok("GET", "deployment.queueList") == []
        restart.join()
        [row] = api.ok("GET", "deployment.allByCompose", composeId=cid)
        assert (row["status"], row["finishedAt"]) == ("cancelled", None)
        assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "idle"
    finally:
        srv.stop()


def test_a_request_in_flight_loses_its_connection_and_one_not_started_never_runs(key: str, srv: FakeDokploy, api: Api) -> None:
    srv.faults.delay("project.create", 0.8)  # still waiting to run when Dokploy goes down
    threading.Timer(0.3, srv.restart).start()
    with pytest.raises(requests.ConnectionError):
        api.post("project.create", {"name": "never"})
    time.sleep(0.8)
    assert [p["name"] for p in api.ok("GET", "project.all")] == []


def test_a_stopped_stand_in_serves_no_kept_alive_connection(key: str) -> None:
    srv = _server(key)
    api = Api(srv.base_url, key)
    assert api.get("project.all").status_code == 200  # the session keeps this connection open
    srv.stop()
    with pytest.raises(requests.ConnectionError):
        api.get("project.all", timeout=2)


def test_a_restart_kills_dokploys_own_commands_and_leaves_a_remote_servers_run(tmp_path: Path) -> None:
    runner = DockerRunner(tmp_path)
    results: dict[str, int] = {}

    def run(name: str, detached: bool) -> None:
        results[name] = runner.run(["sleep", "30"], detached=detached)[0]

    threads = [threading.Thread(target=run, args=(n, d)) for n, d in (("local", False), ("remote", True))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    runner.kill_all()  # Dokploy's container stopped: tini exits, the kernel kills the rest of the container
    threads[0].join(5)
    assert results == {"local": -signal.SIGKILL}  # the remote run (SSH, no terminal) goes on
    runner.kill_all(detached=True)
    threads[1].join(5)
    assert results["remote"] == -signal.SIGKILL


def test_faults_at_restarts_mid_deploy_and_records_when(key: str) -> None:
    srv = _server(key, "development", deploy_duration=2.0)
    try:
        api = Api(srv.base_url, key)
        _, cid = make_compose(api, "backend")
        assert api.control("POST", "faults", {"at": {"event": "deploy", "action": "restart", "compose": "backend",
                                                      "title": "rollback", "after": 0.2, "seconds": 0.3}}).status_code == 200
        api.ok("POST", "compose.deploy", {"composeId": cid, "title": "pulumi update 1"})  # not the rollback: nothing fires
        wait_for(lambda: _rows(api, cid) == [("pulumi update 1", "done")], timeout=5)
        api.ok("POST", "compose.deploy", {"composeId": cid, "title": "pulumi rollback 1"})
        wait_for(lambda: len(srv.events) == 2, timeout=5)
        time.sleep(2.5)
        assert _rows(api, cid) == [("pulumi rollback 1", "running"), ("pulumi update 1", "done")]
        assert api.control("GET", "faults").json()["at"] == []  # fired once
    finally:
        srv.stop()


def test_faults_at_a_procedure_restarts_while_that_request_runs(key: str, srv: FakeDokploy, api: Api) -> None:
    _, cid = make_compose(api, "backend")
    srv.faults.at("compose.delete", compose="backend", after=0.1, seconds=0.2)
    srv.faults.delay("compose.delete", 0.5, after=True)  # the procedure ran; its answer is not sent yet
    with pytest.raises(requests.ConnectionError):
        api.post("compose.delete", {"composeId": cid, "deleteVolumes": False})
    wait_for(lambda: len(srv.events) == 2)
    assert api.get("compose.one", composeId=cid).status_code == 404  # the row went before the answer was lost


def test_the_database_down_refuses_every_key_and_fails_the_public_health_check(key: str, srv: FakeDokploy, api: Api) -> None:
    health = f"{srv.base_url}/api/trpc/settings.health"
    assert requests.get(health, timeout=5).json() == {"result": {"data": {"json": {"status": "ok"}}}}  # public: no key
    assert requests.get(f"{srv.base_url}/api/trpc/project.all", timeout=5).status_code == 401  # not public
    srv.faults.database_down = True
    r = api.get("project.all")
    assert (r.status_code, r.text) == (401, '{"message":"Unauthorized"}')
    r = requests.get(health, timeout=5)
    assert r.status_code == 500
    assert r.json()["error"]["json"]["message"] == DATABASE_ERROR
    assert r.json()["error"]["json"]["data"]["code"] == "INTERNAL_SERVER_ERROR"
    assert requests.get(f"{srv.base_url}/api/health", timeout=5).json() == {"ok": True}
    srv.faults.database_down = False
    assert api.get("project.all").status_code == 200


def test_a_job_cannot_start_or_record_its_outcome_while_the_database_is_down(key: str) -> None:
    srv = _server(key, deploy_duration=0.6)
    try:
        api = Api(srv.base_url, key)
        _, cid = make_compose(api)
        api.ok("POST", "compose.deploy", {"composeId": cid, "title": "ends while down"})
        wait_for(lambda: _rows(api, cid))
        srv.faults.database_down = True
        assert srv.wait_idle(3)  # the job returned...
        srv.faults.database_down = False
        assert _rows(api, cid) == [("ends while down", "running")]  # ...without writing its outcome
        assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "running"
        srv.deploy_start_delay = 0.5
        api.ok("POST", "compose.deploy", {"composeId": cid, "title": "starts while down"})
        srv.faults.database_down = True
        assert srv.wait_idle(3)  # updateCompose threw: the job returned before inserting its row
        srv.faults.database_down = False
        assert _rows(api, cid) == [("ends while down", "running")]
    finally:
        srv.stop()


def test_a_real_restart_of_the_process_keeps_rows_running_in_development_and_cancels_them_in_production(
    key: str, tmp_path: Path
) -> None:
    port = ports.free_port()
    state = tmp_path / "state.json"
    env = {**os.environ, "FAKE_DOKPLOY_TEST_KEY": key, "PYTHONPATH": str(ROOT)}

    def start(node_env: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "testkit.dokploy", "--port", str(port), "--api-key-env", "FAKE_DOKPLOY_TEST_KEY",
                                 "--state-file", str(state), "--latency", "0", "--node-env", node_env, "--quiet"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _up(port), timeout=20)
        return proc

    def stop(proc: subprocess.Popen[bytes]) -> None:  # what stopping Dokploy's container sends
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)

    api = Api(f"http://127.0.0.1:{port}", key)
    proc = start("development")
    try:
        _, cid = make_compose(api)
        api.control("POST", "faults", {"deploy_outcome": "stuck"})
        api.ok("POST", "compose.deploy", {"composeId": cid, "title": "lost"})
        wait_for(lambda: _rows(api, cid))
        stop(proc)
        proc = start("development")
        assert _rows(api, cid) == [("lost", "running")] and api.ok("GET", "deployment.queueList") == []
        stop(proc)
        proc = start("production")
        assert _rows(api, cid) == [("lost", "cancelled")]
        assert json.loads(state.read_text())["deployments"][0]["status"] == "cancelled"
    finally:
        stop(proc)


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/api/health", timeout=0.5).ok
    except requests.ConnectionError:
        return False
