"""Stack mode and servers of the Dokploy stand-in (testkit/dokploy/swarm.py), on a real single-node Swarm.

The docker tests make the engine a Swarm with scripts/swarm.sh for the session and leave it as
they found it. Images are tiny FROM-scratch busybox images pushed to the local registry and
deployed by digest (``127.0.0.1:5000/...@sha256:``), as Swarm tasks pull them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from testkit import ports
from testkit.dokploy import FakeDokploy
from testkit.images import build_image
from tests.testkit.test_dokploy_standin import Api, make_compose

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "127.0.0.1:5000"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.25) -> T:
    """Poll until probe() is truthy; fail with `what` and the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not reached in {timeout:.0f}s (last: {value!r})")


def sh(*args: str, check: bool = True) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def _docker_ok() -> bool:
    try:
        return shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _registry_ok() -> bool:
    try:
        return requests.get(f"http://{REGISTRY}/v2/", timeout=2).ok
    except requests.RequestException:
        return False


docker_only = pytest.mark.skipif(not (_docker_ok() and _registry_ok()), reason="needs a Docker Engine and the registry on 127.0.0.1:5000")


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def swarm_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The engine as a single-node Swarm with dokploy-network an attachable overlay; afterwards as found."""
    record = tmp_path_factory.mktemp("swarm") / "before"
    script = str(ROOT / "scripts" / "swarm.sh")
    up = subprocess.run(["bash", script, "up", str(record)], capture_output=True, text=True, timeout=120, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    yield
    subprocess.run(["bash", script, "down", str(record)], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def images() -> Iterator[dict[str, str]]:
    """Three pushed variants by digest: v1 and v2 healthy (different content), v3 without /health."""
    repo = f"{REGISTRY}/standin-swarm-{secrets.token_hex(4)}/bb"
    refs: dict[str, str] = {}
    try:
        for variant, health in (("v1", "/health"), ("v2", "/health"), ("v3", "/ready")):
            build_image(f"{repo}:{variant}", "bb", 8080, health, variant)
            sh("docker", "push", "-q", f"{repo}:{variant}")
            digests = json.loads(sh("docker", "image", "inspect", "-f", "{{json .RepoDigests}}", f"{repo}:{variant}"))
            refs[variant] = next(d for d in digests if d.startswith(f"{repo}@"))
        yield refs
    finally:
        for variant, ref in refs.items():
            sh("docker", "rmi", "-f", f"{repo}:{variant}", check=False)
            name, digest = ref.removeprefix(f"{REGISTRY}/").split("@")
            requests.delete(f"http://{REGISTRY}/v2/{name}/manifests/{digest}", timeout=10)


@pytest.fixture
def key() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def swarm_srv(swarm_engine: None, key: str, tmp_path: Path) -> Iterator[FakeDokploy]:
    srv = FakeDokploy(api_keys={key}, docker=True, work_dir=tmp_path / "dokploy", deploy_start_delay=0.05, servers=["edge-1", "edge-2"])
    srv.start()
    yield srv
    srv.stop()
    for row in srv.state.composes.values():  # whatever a failed test left behind
        remove_stack(row["appName"])


def remove_stack(app_name: str) -> None:
    sh("docker", "stack", "rm", app_name, check=False)
    wait_for(f"stack {app_name} removed", lambda: not sh("docker", "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={app_name}"))


def stack_file(image: str) -> str:
    return f"""services:
  web:
    image: {image}
    environment:
      GREETING: ${{GREETING}}
    healthcheck:
      test: ["CMD", "/bin/wget", "-qO-", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 2
    stop_grace_period: 1s
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      update_config: {{parallelism: 2, delay: 0s, monitor: 3s, failure_action: rollback, order: start-first}}
      rollback_config: {{parallelism: 2, delay: 0s, monitor: 1s}}
    networks: [dokploy-network]
networks:
  dokploy-network:
    external: true
"""


def servers_by_name(api: Api) -> dict[str, str]:
    return {row["name"]: row["serverId"] for row in api.ok("GET", "server.all")}


def deploy(api: Api, compose_id: str) -> tuple[dict[str, Any], float]:
    """compose.deploy, then wait for the new deployment row to end; returns (row, seconds)."""
    before = {row["deploymentId"] for row in api.ok("GET", "deployment.allByCompose", composeId=compose_id)}
    started = time.monotonic()
    api.ok("POST", "compose.deploy", {"composeId": compose_id})

    def ended() -> dict[str, Any] | None:
        rows = [r for r in api.ok("GET", "deployment.allByCompose", composeId=compose_id) if r["deploymentId"] not in before]
        return rows[0] if rows and rows[0]["status"] != "running" else None

    row = wait_for("deployment row ended", ended, timeout=60, interval=0.05)
    return row, time.monotonic() - started


def node_app(api: Api, name: str, **params: str) -> dict[str, Any] | None:
    return next((row for row in api.ok("GET", "swarm.getNodeApps", **params) if row["Name"] == name), None)


def update_state(service: str) -> str:
    return sh("docker", "service", "inspect", service, "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", check=False)


# -- docker + Swarm -----------------------------------------------------------------------------


@docker_only
def test_stack_deploys_two_replicas_then_a_new_digest_then_delete(swarm_srv: FakeDokploy, key: str, images: dict[str, str]) -> None:
    api = Api(swarm_srv.base_url, key)
    assert sh("docker", "network", "inspect", "-f", "{{.Driver}} {{.Attachable}}", "dokploy-network") == "overlay true"
    edge1 = servers_by_name(api)["edge-1"]
    env_id, _ = make_compose(api, "unused")
    compose = api.ok("POST", "compose.create", {"name": "stack", "environmentId": env_id, "composeType": "stack", "sourceType": "raw",
                                                "composeFile": stack_file(images["v1"]), "serverId": edge1})
    cid, app = compose["composeId"], compose["appName"]
    service = f"{app}_web"
    try:
        # no .env file: docker stack deploy gets GREETING only because it is exported on its command line
        api.ok("POST", "compose.saveEnvironment", {"composeId": cid, "env": "GREETING=hello stack\nEMPTY=\n", "createEnvFile": False})
        row, seconds = deploy(api, cid)
        logs = api.ok("GET", "deployment.readLogs", deploymentId=row["deploymentId"], tail=1000)
        assert row["status"] == "done", logs
        assert f"Command: docker stack deploy -c docker-compose.yml {app} --prune --with-registry-auth" in logs
        assert not (swarm_srv.docker_runner.code_dir(app) / ".env").exists()  # type: ignore[union-attr]
        print(f"stack deploy reported done after {seconds:.2f}s")

        first = wait_for("2/2 replicas of v1", lambda: (r := node_app(api, service, serverId=edge1)) and r["Replicas"] == "2/2" and r)
        assert (first["Image"], first["Mode"], first["Ports"]) == (images["v1"], "replicated", "")
        assert set(first) == {"ID", "Name", "Image", "Mode", "Replicas", "Ports"}
        assert node_app(api, service) is None and node_app(api, service, serverId=servers_by_name(api)["edge-2"]) is None
        spec_env = sh("docker", "service", "inspect", service, "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}")
        assert "GREETING=hello stack" in json.loads(spec_env)

        [node] = api.ok("GET", "swarm.getNodes", serverId=edge1)
        tasks = api.ok("GET", "docker.getStackContainersByAppName", appName=app, serverId=edge1)
        assert sorted(t["name"] for t in tasks) == [f"{service}.1", f"{service}.2"]
        assert {(t["state"], t["node"]) for t in tasks} == {("running", node["Hostname"])}
        # Dokploy's parser quirk: stdout.trim() eats the last line's trailing "Error: " space, so its error is "Error:"
        assert [t["error"] for t in tasks] == ["", "Error:"]
        assert all(t["currentState"].startswith("Running") for t in tasks)
        assert list(tasks[0]) == ["containerId", "name", "state", "node", "currentState", "error"]
        assert api.ok("GET", "docker.getStackContainersByAppName", appName=app) == []  # on edge-1, not on the Dokploy host
        wait_for("first rollout settled", lambda: update_state(service) in ("", "completed"))

        api.ok("POST", "compose.update", {"composeId": cid, "composeFile": stack_file(images["v2"])})
        row, seconds = deploy(api, cid)
        assert row["status"] == "done"
        print(f"stack update reported done after {seconds:.2f}s")

        def rolled_out() -> list[dict[str, Any]] | None:
            app_row = node_app(api, service, serverId=edge1)
            tasks = api.ok("GET", "docker.getStackContainersByAppName", appName=app, serverId=edge1)
            states = sorted(t["state"] for t in tasks)
            converged = app_row and app_row["Image"] == images["v2"] and app_row["Replicas"] == "2/2"
            return tasks if converged and states == ["running"] * 2 + ["shutdown"] * 2 else None

        tasks = wait_for("v2 running, the v1 tasks shut down", rolled_out)
        service_tasks = api.ok("GET", "docker.getServiceContainersByAppName", appName=service, serverId=edge1)
        assert {t["containerId"] for t in service_tasks} == {t["containerId"] for t in tasks}
        assert list(service_tasks[0]) == ["containerId", "name", "state", "currentState", "node", "error"]
        assert all(len(t["containerId"]) == 25 for t in tasks)  # task ids, not container ids

        deleted = api.ok("POST", "compose.delete", {"composeId": cid, "deleteVolumes": False})
        assert deleted["serverId"] == edge1 and deleted["server"]["name"] == "edge-1"
        wait_for("stack removed", lambda: node_app(api, service, serverId=edge1) is None
                 and api.ok("GET", "docker.getStackContainersByAppName", appName=app, serverId=edge1) == [])
    finally:
        remove_stack(app)


@docker_only
def test_failed_update_is_done_while_swarm_rolls_back(swarm_srv: FakeDokploy, key: str, images: dict[str, str]) -> None:
    """API.md §15: the deployment row is `done` although the new tasks fail their healthcheck; Swarm rolls back later."""
    api = Api(swarm_srv.base_url, key)
    env_id, _ = make_compose(api, "unused")
    compose = api.ok("POST", "compose.create", {"name": "rollback", "environmentId": env_id, "composeType": "stack", "sourceType": "raw",
                                                "composeFile": stack_file(images["v1"])})
    cid, app = compose["composeId"], compose["appName"]
    service = f"{app}_web"
    try:
        assert deploy(api, cid)[0]["status"] == "done"
        wait_for("2/2 replicas of v1", lambda: (r := node_app(api, service)) and r["Replicas"] == "2/2" and r["Image"] == images["v1"])
        wait_for("first rollout settled", lambda: update_state(service) in ("", "completed"))

        api.ok("POST", "compose.update", {"composeId": cid, "composeFile": stack_file(images["v3"])})
        row, seconds = deploy(api, cid)
        at_done = update_state(service)
        assert row["status"] == "done" and at_done == "updating", (row["status"], at_done)
        assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "done"
        assert node_app(api, service)["Image"] == images["v3"]  # type: ignore[index]
        started = time.monotonic()
        seen = []

        def rolled_back() -> bool:
            state = update_state(service)
            if not seen or seen[-1] != state:
                seen.append(state)
            return state == "rollback_completed"

        wait_for("Swarm rolled the update back", rolled_back, timeout=90)
        print(f"deploy reported done after {seconds:.2f}s; rollback completed {time.monotonic() - started:.1f}s later; states {seen}")
        wait_for("v1 back at 2/2", lambda: (r := node_app(api, service)) and r["Replicas"] == "2/2" and r["Image"] == images["v1"])
        assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "done"  # Dokploy never learns of it
        assert api.ok("GET", "deployment.allByCompose", composeId=cid)[0]["status"] == "done"

        assert api.ok("POST", "compose.stop", {"composeId": cid}) is True  # docker stack rm
        assert api.ok("GET", "compose.one", composeId=cid)["composeStatus"] == "idle"
        wait_for("stack removed by compose.stop", lambda: node_app(api, service) is None)
        api.ok("POST", "compose.delete", {"composeId": cid, "deleteVolumes": True})
    finally:
        remove_stack(app)


@docker_only
def test_network_setup_on_a_swarm_manager(swarm_srv: FakeDokploy, images: dict[str, str]) -> None:
    """ensure_network: a free bridge becomes an attachable overlay; a bridge in use is kept."""
    runner = swarm_srv.docker_runner
    assert runner is not None
    name = f"standin-swarm-net-{secrets.token_hex(3)}"
    container = ""
    try:
        sh("docker", "network", "create", "--driver", "bridge", name)
        container = sh("docker", "run", "-d", "--network", name, images["v1"])
        assert runner.ensure_network(name) == "bridge"
        sh("docker", "rm", "-f", container)
        assert runner.ensure_network(name) == "overlay"
        assert sh("docker", "network", "inspect", "-f", "{{.Driver}} {{.Attachable}} {{.Scope}}", name) == "overlay true swarm"
        assert runner.ensure_network(name) == "overlay"
    finally:
        if container:
            sh("docker", "rm", "-f", container, check=False)
        sh("docker", "network", "rm", name, check=False)


@docker_only
def test_registry_login_on_a_server_goes_to_its_docker_config(swarm_srv: FakeDokploy, key: str) -> None:
    api = Api(swarm_srv.base_url, key)
    runner = swarm_srv.docker_runner
    assert runner is not None
    edge1 = servers_by_name(api)["edge-1"]
    body = {"registryName": "local", "username": "ci", "password": secrets.token_hex(8), "registryUrl": REGISTRY,
            "registryType": "cloud", "imagePrefix": None, "serverId": edge1}
    row = api.ok("POST", "registry.create", body)
    assert "serverId" not in row and swarm_srv.state.registry_logins[row["registryId"]] == [edge1]
    assert REGISTRY in json.loads((runner.config_for(edge1) / "config.json").read_text())["auths"]
    assert not (runner.docker_config / "config.json").exists() or REGISTRY not in (runner.docker_config / "config.json").read_text()


# -- no docker ----------------------------------------------------------------------------------


@pytest.fixture
def srv(key: str, tmp_path: Path) -> Iterator[FakeDokploy]:
    server = FakeDokploy(api_keys={key}, deploy_start_delay=0.05, deploy_duration=0.05, servers=["edge-1", "edge-2"],
                         state_file=tmp_path / "state.json")
    server.start()
    yield server
    server.stop()


def test_servers_and_server_id_round_trip(srv: FakeDokploy, key: str, tmp_path: Path) -> None:
    api = Api(srv.base_url, key)
    listed = api.ok("GET", "server.all")
    assert [s["name"] for s in listed] == ["edge-2", "edge-1"] and {s["totalSum"] for s in listed} == {0}
    edge1 = servers_by_name(api)["edge-1"]
    new = {"name": "edge-3", "description": None, "ipAddress": "10.0.0.3", "port": 2222, "username": "deploy", "sshKeyId": None,
           "serverType": "deploy"}
    created = api.ok("POST", "server.create", new)
    assert {k: created[k] for k in new} == new and created["enableDockerCleanup"] is True and created["serverStatus"] == "active"
    assert created["appName"].startswith("server-")
    one = api.ok("GET", "server.one", serverId=created["serverId"])
    assert one == {**created, "deployments": [], "sshKey": None}
    r = api.post("server.create", {**new, "sshKeyId": "no-such-key"})
    assert (r.status_code, r.json()["message"]) == (400, "Error creating the server")
    r = api.get("server.one", serverId="nope")
    assert (r.status_code, r.json()["message"]) == (404, "Server not found")

    env_id, _ = make_compose(api, "local")
    project_id = api.ok("GET", "environment.one", environmentId=env_id)["projectId"]
    compose = api.ok("POST", "compose.create", {"name": "edge", "environmentId": env_id, "serverId": edge1, "composeType": "stack"})
    assert compose["serverId"] == edge1
    full = api.ok("GET", "compose.one", composeId=compose["composeId"])
    assert full["serverId"] == edge1 and full["server"]["name"] == "edge-1" and full["server"]["serverId"] == edge1
    by_name = {c["name"]: c for c in api.ok("GET", "project.one", projectId=project_id)["environments"][0]["compose"]}
    assert by_name["edge"]["server"] == {"name": "edge-1"} and by_name["local"]["server"] is None
    env_compose = {c["name"]: c for c in api.ok("GET", "environment.one", environmentId=env_id)["compose"]}
    assert env_compose["edge"]["server"] == {"name": "edge-1", "serverId": edge1}
    assert {s["name"]: s["totalSum"] for s in api.ok("GET", "server.all")}["edge-1"] == 1
    r = api.post("compose.create", {"name": "x", "environmentId": env_id, "serverId": "nope"})
    assert (r.status_code, r.json()["message"]) == (401, "You are not authorized to access this server")
    api.ok("POST", "compose.update", {"composeId": compose["composeId"], "serverId": None})  # not updatable
    assert api.ok("GET", "compose.one", composeId=compose["composeId"])["serverId"] == edge1

    body = {"registryName": "r", "username": "u", "password": "p", "registryUrl": "", "registryType": "cloud", "imagePrefix": None}
    on_edge = api.ok("POST", "registry.create", {**body, "serverId": edge1})
    on_host = api.ok("POST", "registry.create", body)
    assert srv.state.registry_logins == {on_edge["registryId"]: [edge1], on_host["registryId"]: [""]}
    r = api.post("registry.create", {**body, "serverId": "nope"})
    assert (r.status_code, r.json()["message"]) == (400, "Server not found")

    # without docker the engine is no Swarm manager: Dokploy's catch blocks answer
    assert api.ok("GET", "swarm.getNodeApps", serverId=edge1) == []
    assert api.get("swarm.getNodes").content == b""
    assert api.ok("GET", "docker.getStackContainersByAppName", appName=compose["appName"], serverId=edge1) == []
    assert api.ok("GET", "docker.getServiceContainersByAppName", appName=f"{compose['appName']}_web") == []
    r = api.get("swarm.getNodeApps", serverId="nope")
    assert (r.status_code, r.json()["message"]) == (404, "Server not found")

    srv.stop()  # servers persist and are not created twice
    with FakeDokploy(api_keys={key}, state_file=tmp_path / "state.json", servers=["edge-1", "edge-4"]) as again:
        names = [s["name"] for s in Api(again.base_url, key).ok("GET", "server.all")]
        assert sorted(names) == ["edge-1", "edge-2", "edge-3", "edge-4"]


def test_new_procedures_need_a_key_and_valid_input(srv: FakeDokploy, key: str) -> None:
    anonymous = Api(srv.base_url, None)
    for proc in ("swarm.getNodeApps", "swarm.getNodes", "docker.getStackContainersByAppName", "docker.getServiceContainersByAppName",
                 "server.all", "server.one"):
        r = anonymous.get(proc, appName="x", serverId="x")
        assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"}), proc
    assert anonymous.post("server.create", {"name": "x"}).status_code == 401

    api = Api(srv.base_url, key)
    for proc in ("docker.getStackContainersByAppName", "docker.getServiceContainersByAppName"):
        r = api.get(proc, appName="bad name;rm")
        assert r.status_code == 400 and r.json()["issues"][0]["path"] == ["appName"], r.text
        assert api.get(proc).status_code == 400
    r = api.post("server.create", {"name": "x"})
    assert r.status_code == 400 and {i["path"][0] for i in r.json()["issues"]} >= {"ipAddress", "port", "username", "sshKeyId"}
    assert api.get("server.one").status_code == 400


def test_cli_creates_servers(key: str, tmp_path: Path) -> None:
    port = ports.free_port()
    env = {**os.environ, "FAKE_DOKPLOY_TEST_KEY": key, "PYTHONPATH": str(ROOT)}
    args = ["--port", str(port), "--api-key-env", "FAKE_DOKPLOY_TEST_KEY", "--quiet", "--server", "edge-1", "--server", "edge-2"]
    proc = subprocess.Popen([sys.executable, "-m", "testkit.dokploy", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        api = Api(f"http://127.0.0.1:{port}", key)

        def listed() -> list[str] | None:
            try:
                return sorted(row["name"] for row in api.ok("GET", "server.all"))
            except requests.ConnectionError:
                return None

        assert wait_for("the CLI answers", listed, timeout=20) == ["edge-1", "edge-2"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


@docker_only
def test_swarm_script_records_and_moves_attached_containers(swarm_engine: None, images: dict[str, str], tmp_path: Path) -> None:
    """scripts/swarm.sh on a throwaway network: record, bridge -> overlay with the container kept, idempotent, undo."""
    name = f"standin-swarm-script-{secrets.token_hex(3)}"
    env = {**os.environ, "SWARM_NETWORK": name}
    record = tmp_path / "before"

    def script(*args: str) -> str:
        done = subprocess.run(["bash", str(ROOT / "scripts" / "swarm.sh"), *args, str(record)], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    container = ""
    try:
        sh("docker", "network", "create", name)
        container = sh("docker", "run", "-d", "--network", name, "--network-alias", "alpha", images["v1"])
        out = script("up")
        assert "already a Swarm manager" in out and f"replacing {name} (bridge false)" in out
        assert f"reconnected container {container[:12]}" in out
        assert record.read_text().splitlines()[:2] == ["was_swarm=1", "network_before=bridge"]
        assert sh("docker", "network", "inspect", "-f", "{{.Driver}} {{.Attachable}}", name) == "overlay true"
        aliases = sh("docker", "inspect", "-f", f'{{{{json (index .NetworkSettings.Networks "{name}").Aliases}}}}', container)
        assert "alpha" in json.loads(aliases)
        assert f"{name} is an attachable overlay" in script("up")  # idempotent, the first record kept
        assert "was a Swarm before: left as it is" in script("down") and not record.exists()
        assert "nothing recorded" in script("down")
    finally:
        if container:
            sh("docker", "rm", "-f", container, check=False)
        sh("docker", "network", "rm", name, check=False)
