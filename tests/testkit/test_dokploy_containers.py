"""What runs, as the Dokploy stand-in reports it: docker.getContainersByAppNameMatch, docker.getConfig, compose.readLogs.

The simulation (docker=False) is checked in detail; against the real Docker Engine, a deployed
compose must show its containers with the deployed digest, health and restart counts.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from testkit import images
from testkit.dokploy import FakeDokploy
from tests.engine_helpers import REGISTRY
from tests.testkit.test_dokploy_standin import Api, docker_only, issues_of, make_compose, sh, wait_for

DIGEST = "sha256:" + "d" * 64
SIM_COMPOSE = (
    "services:\n"
    "  web:\n"
    f"    image: 127.0.0.1:5000/shop/web@{DIGEST}\n"
    "    environment:\n"
    "      DATABASE_URL: ${DATABASE_URL}\n"
    "    healthcheck:\n"
    '      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/health || exit 1"]\n'
    "      interval: 5s\n"
    "      retries: 3\n"
    "  worker:\n"
    "    image: shop/worker:1\n"
    "    restart: unless-stopped\n"
    "    scale: 2\n"
)


@pytest.fixture
def key() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def api(key: str) -> Iterator[Api]:
    with FakeDokploy(api_keys={key}, latency=0, deploy_start_delay=0, deploy_duration=0) as srv:
        yield Api(srv.base_url, key)


def deployed(api: Api, compose_file: str = SIM_COMPOSE, env: str = "DATABASE_URL=postgres://db/app\n") -> tuple[str, str]:
    """A raw compose, its env saved and deployed; returns (composeId, appName)."""
    _, cid = make_compose(api, f"c{secrets.token_hex(2)}", compose_file)
    api.ok("POST", "compose.saveEnvironment", {"composeId": cid, "env": env})
    deploy_and_wait(api, cid)
    return cid, api.ok("GET", "compose.one", composeId=cid)["appName"]


def deploy_and_wait(api: Api, cid: str) -> None:
    before = len(api.ok("GET", "deployment.allByCompose", composeId=cid))
    api.ok("POST", "compose.deploy", {"composeId": cid})
    rows = wait_for(lambda: (r := api.ok("GET", "deployment.allByCompose", composeId=cid)) and len(r) > before
                    and r[0]["status"] != "running" and r, timeout=120)
    assert rows[0]["status"] == "done", api.ok("GET", "deployment.readLogs", deploymentId=rows[0]["deploymentId"], tail=200)


def listed(api: Api, app: str, app_type: str | None = "docker-compose") -> list[dict[str, Any]]:
    params = {"appName": app} | ({"appType": app_type} if app_type else {})
    return api.ok("GET", "docker.getContainersByAppNameMatch", **params)


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows}


def config(api: Api, container: str) -> Any:
    return api.ok("GET", "docker.getConfig", containerId=container)


def logs(api: Api, cid: str, container: str, **params: Any) -> requests.Response:
    return api.get("compose.readLogs", composeId=cid, containerId=container, **params)


# -- the simulation (docker=False) --------------------------------------------------------------


def test_a_simulated_deploy_lists_its_containers_like_docker_ps(api: Api) -> None:
    _, app = deployed(api)
    rows = by_name(listed(api, app))
    assert set(rows) == {f"{app}-web-1", f"{app}-worker-1", f"{app}-worker-2"}
    for row in rows.values():
        assert list(row) == ["containerId", "name", "state", "status"] and re.fullmatch(r"[0-9a-f]{12}", row["containerId"])
        assert row["state"] == "running" and row["status"].startswith("Up ")
    assert rows[f"{app}-web-1"]["status"].endswith(" (healthy)") and "(" not in rows[f"{app}-worker-1"]["status"]
    assert by_name(listed(api, app, None)) == rows  # `docker ps -a | grep '^.*Name: <appName>'`
    assert listed(api, app[:-3] + "...", None) == listed(api, app, None)  # grep's `.` matches any character
    assert listed(api, app, "stack") == [] and listed(api, "nothing-here") == []

    web = config(api, rows[f"{app}-web-1"]["containerId"])
    assert web["Id"].startswith(rows[f"{app}-web-1"]["containerId"]) and web["Name"] == f"/{app}-web-1"
    assert web["Config"]["Image"] == f"127.0.0.1:5000/shop/web@{DIGEST}" and web["Image"].startswith("sha256:")
    assert (web["State"]["Status"], web["State"]["Health"]["Status"], web["RestartCount"]) == ("running", "healthy", 0)
    assert "DATABASE_URL=postgres://db/app" in web["Config"]["Env"]  # interpolated from the saved env
    assert web["Config"]["Healthcheck"]["Interval"] == 5_000_000_000 and web["Config"]["Labels"]["com.docker.compose.project"] == app
    worker = config(api, f"{app}-worker-2")  # a name works like an id
    assert "Health" not in worker["State"] and worker["HostConfig"]["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}


def test_simulated_containers_follow_redeploys_stop_start_and_delete(api: Api) -> None:
    cid, app = deployed(api)
    ids = {r["name"]: r["containerId"] for r in listed(api, app)}
    deploy_and_wait(api, cid)  # nothing changed: the same containers
    assert {r["name"]: r["containerId"] for r in listed(api, app)} == ids
    api.ok("POST", "compose.update", {"composeId": cid, "composeFile": SIM_COMPOSE.replace("shop/worker:1", "shop/worker:2").replace(
        "    scale: 2\n", "")})
    deploy_and_wait(api, cid)
    after = {r["name"]: r["containerId"] for r in listed(api, app)}
    assert after[f"{app}-web-1"] == ids[f"{app}-web-1"] and after[f"{app}-worker-1"] != ids[f"{app}-worker-1"]
    assert f"{app}-worker-2" not in after  # scaled down: removed
    assert config(api, f"{app}-worker-1")["Config"]["Image"] == "shop/worker:2"

    api.ok("POST", "compose.stop", {"composeId": cid})
    stopped = by_name(listed(api, app))[f"{app}-web-1"]
    assert stopped["state"] == "exited" and re.fullmatch(r"Exited \(0\) .+ ago", stopped["status"])
    assert config(api, f"{app}-web-1")["State"]["Running"] is False
    api.ok("POST", "compose.start", {"composeId": cid})
    assert {r["state"] for r in listed(api, app)} == {"running"}
    api.ok("POST", "compose.delete", {"composeId": cid, "deleteVolumes": True})
    assert listed(api, app) == []


def test_a_simulated_stack_lists_its_tasks_containers(api: Api) -> None:
    _, cid = make_compose(api, "stk", "services:\n  api:\n    image: shop/api:1\n    deploy:\n      replicas: 2\n")
    api.ok("POST", "compose.update", {"composeId": cid, "composeType": "stack"})
    deploy_and_wait(api, cid)
    app = api.ok("GET", "compose.one", composeId=cid)["appName"]
    rows = listed(api, app, "stack")
    assert [list(r) for r in rows] == [["containerId", "name", "node", "state", "status"]] * 2
    assert all(re.fullmatch(rf"{app}_api\.[12]\.[a-z0-9]{{25}}", r["name"]) and r["status"].startswith("Running ") for r in rows)
    assert listed(api, app) == []  # not a compose project
    assert config(api, rows[0]["containerId"])["Config"]["Labels"]["com.docker.stack.namespace"] == app
    [service] = api.ok("GET", "swarm.getNodeApps")  # the simulated stack's Swarm services, as `docker service ls` lists them
    assert list(service) == ["ID", "Image", "Mode", "Name", "Ports", "Replicas"]
    assert (service["Name"], service["Image"], service["Mode"], service["Replicas"]) == (f"{app}_api", "shop/api:1", "replicated", "2/2")
    api.control("POST", "containers", {"container": rows[0]["name"], "state": "exited", "exitCode": 1})
    assert api.ok("GET", "swarm.getNodeApps")[0]["Replicas"] == "1/2"
    api.ok("POST", "compose.stop", {"composeId": cid})  # `docker stack rm`
    assert listed(api, app, "stack") == [] and api.ok("GET", "swarm.getNodeApps") == []


def test_a_test_can_make_a_simulated_container_unhealthy_or_crash_loop(api: Api) -> None:
    _, app = deployed(api)
    srv_url = api.base
    assert api.control("POST", "containers", {"container": f"{app}-web-1", "health": "unhealthy"}).status_code == 200
    web = config(api, f"{app}-web-1")
    assert web["State"]["Health"]["Status"] == "unhealthy" and web["State"]["Health"]["FailingStreak"] > 0
    assert by_name(listed(api, app))[f"{app}-web-1"]["status"].endswith("(unhealthy)")

    r = api.control("POST", "containers", {"container": f"{app}-worker-1", "crashEvery": 0.2, "log": "panic: boom"})
    assert r.status_code == 200 and r.json()["Id"] == config(api, f"{app}-worker-1")["Id"]
    first = config(api, f"{app}-worker-1")
    assert first["State"]["Restarting"] is True and first["State"]["ExitCode"] == 1 and first["RestartCount"] >= 1
    wait_for(lambda: config(api, f"{app}-worker-1")["RestartCount"] > first["RestartCount"], timeout=5)
    assert re.fullmatch(r"Restarting \(1\) .+ ago", by_name(listed(api, app))[f"{app}-worker-1"]["status"])

    assert api.control("POST", "containers", {"container": "nope", "health": "healthy"}).status_code == 400
    assert api.control("POST", "containers", {"container": f"{app}-web-1", "bogus": 1}).status_code == 400
    assert requests.post(f"{srv_url}/__fake__/containers", json={}, timeout=5).status_code == 401


def test_read_logs_like_docker_container_logs(api: Api) -> None:
    cid, app = deployed(api)
    web = f"{app}-web-1"
    api.control("POST", "containers", {"container": web, "log": "GET /health 200"})
    api.control("POST", "containers", {"container": web, "log": "GET /orders 500"})
    text = logs(api, cid, web).json()
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == 3 and lines[-1].endswith(" GET /orders 500")
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", line) for line in lines)
    assert logs(api, cid, web, tail=1).json() == lines[-1] + "\n"
    assert logs(api, cid, web, search="health").json() == lines[1] + "\n"  # grep -iF
    assert logs(api, cid, web, since="10m").json() == text
    assert logs(api, cid, web, since="1d").json() == 'invalid value for "since": failed to parse value as time or duration: "1d"\n'
    assert logs(api, cid, "nope").json() == "Error response from daemon: No such container: nope\n"  # the error is the logs

    r = logs(api, cid, web, search="nothing matches")
    command = f"docker container logs --timestamps --tail 100  {web} 2>&1 | grep -iF 'nothing matches'"
    assert r.status_code == 500 and r.json()["message"] == f"Command execution failed: Command failed: {command}\n"
    assert logs(api, "nope", web).json()["message"] == "Compose not found"


def test_new_routes_are_validated_and_answer_401_before_routing(api: Api) -> None:
    [issue] = issues_of(api.get("docker.getConfig", containerId="a;rm -rf /"))
    assert issue["message"] == "Invalid container id." and issue["path"] == ["containerId"]
    [issue] = issues_of(api.get("docker.getContainersByAppNameMatch", appName="x y"))
    assert issue["message"] == "Invalid app name."
    [issue] = issues_of(api.get("docker.getContainersByAppNameMatch", appName="x", appType="swarm"))
    assert issue["code"] == "invalid_value"
    [issue] = issues_of(api.get("compose.readLogs", composeId="c", containerId="x", since="yesterday"))
    assert issue["message"] == "Invalid since format"
    assert issues_of(api.get("compose.readLogs", composeId="c", containerId="x", tail="0"))[0]["path"] == ["tail"]
    assert issues_of(api.get("compose.readLogs", composeId="c", containerId="x", search="a'b"))[0]["path"] == ["search"]
    unknown = api.get("docker.getConfig", containerId="0123456789ab")
    assert (unknown.status_code, unknown.content) == (200, b"")  # Dokploy swallows the failed `docker inspect`
    r = api.get("docker.getConfig", containerId="x", serverId="nope")
    assert (r.status_code, r.json()["message"]) == (404, "Server not found")
    for proc, params in (("docker.getConfig", {"containerId": "x"}), ("docker.getContainersByAppNameMatch", {"appName": "x"}),
                         ("compose.readLogs", {"composeId": "x", "containerId": "x"})):
        r = requests.get(f"{api.base}/api/{proc}", params={**params, "containerId": "bad id!"}, timeout=5)
        assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"}), proc


# -- the real Docker Engine ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pinned_image() -> Iterator[str]:
    """A tiny busybox image (httpd on 8080, /health), pushed to the local registry: its `repo@sha256:` reference."""
    try:
        requests.get(f"http://{REGISTRY}/v2/", timeout=3).raise_for_status()
    except requests.RequestException:
        pytest.skip(f"needs the local registry at {REGISTRY}")
    repo = f"{REGISTRY}/fake-dokploy-test/containers"
    tag = f"{repo}:{secrets.token_hex(4)}"
    images.build_image(tag, "containers", 8080, "/health", variant=secrets.token_hex(4))
    sh("docker", "push", "-q", tag)
    digests = sh("docker", "image", "inspect", "-f", "{{range .RepoDigests}}{{println .}}{{end}}", tag).split()
    yield next(d for d in digests if d.startswith(repo + "@sha256:"))
    sh("docker", "rmi", "-f", tag, check=False)


@docker_only
def test_real_containers_show_digest_health_and_restarts(key: str, tmp_path: Path, pinned_image: str) -> None:
    compose_file = (
        "services:\n"
        "  web:\n"
        f"    image: {pinned_image}\n"
        "    stop_grace_period: 1s\n"
        "    healthcheck:\n"
        '      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]\n'
        "      interval: 1s\n"
        "      timeout: 1s\n"
        "      retries: 2\n"
        "  sick:\n"
        f"    image: {pinned_image}\n"
        "    stop_grace_period: 1s\n"
        "    healthcheck:\n"
        '      test: ["CMD", "false"]\n'
        "      interval: 1s\n"
        "      retries: 1\n"
        "  crash:\n"
        f"    image: {pinned_image}\n"
        '    command: ["/bin/sh", "-c", "echo crashing now; sleep 1; exit 1"]\n'
        "    restart: unless-stopped\n"
        "    stop_grace_period: 1s\n"
    )
    with FakeDokploy(api_keys={key}, docker=True, work_dir=tmp_path / "dokploy", latency=0, deploy_start_delay=0) as srv:
        api = Api(srv.base_url, key)
        cid, app = None, "none"
        try:
            cid, app = deployed(api, compose_file)
            rows = by_name(listed(api, app))
            assert set(rows) == {f"{app}-web-1", f"{app}-sick-1", f"{app}-crash-1"}
            ps = sh("docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={app}", "--format", "{{.ID}}").split()
            assert sorted(r["containerId"] for r in rows.values()) == sorted(ps)
            assert by_name(listed(api, app, None)).keys() == rows.keys() and listed(api, app, "stack") == []

            web = config(api, rows[f"{app}-web-1"]["containerId"])
            assert web["Config"]["Image"] == pinned_image and web["Name"] == f"/{app}-web-1"
            assert web["Image"] == sh("docker", "image", "inspect", "-f", "{{.Id}}", pinned_image)
            wait_for(lambda: config(api, f"{app}-web-1")["State"]["Health"]["Status"] == "healthy", timeout=30, interval=0.5)
            wait_for(lambda: config(api, f"{app}-sick-1")["State"]["Health"]["Status"] == "unhealthy", timeout=30, interval=0.5)
            wait_for(lambda: config(api, f"{app}-crash-1")["RestartCount"] > 0, timeout=30, interval=0.5)
            assert by_name(listed(api, app))[f"{app}-web-1"]["status"].endswith("(healthy)")

            crash_logs = logs(api, cid, rows[f"{app}-crash-1"]["containerId"], search="CRASHING", tail=5).json()
            assert crash_logs and all(re.match(r"\S+Z crashing now$", line) for line in crash_logs.splitlines())
            assert logs(api, cid, "nope").json() == "Error response from daemon: No such container: nope\n"
            assert (r := api.get("docker.getConfig", containerId="nope")).status_code == 200 and r.content == b""
        finally:
            if cid is not None:
                api.post("compose.delete", {"composeId": cid, "deleteVolumes": True})
            subprocess.run(["docker", "compose", "-p", app, "down", "--volumes", "--remove-orphans"], capture_output=True, check=False)
