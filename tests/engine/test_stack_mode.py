"""Stack mode and servers through the real engine, the real program (CLI route), a Dokploy stand-in that really runs
`docker stack deploy` on this engine's single-node Swarm, and the local registry (Swarm tasks pull by digest).

Needs the engine to be a Swarm manager with dokploy-network an attachable overlay (`scripts/swarm.sh up`); this
kernel has no IPVS, so the stacks use host-mode ports and dnsrr (the production default, ingress and VIP, is
rendered and unit-tested, not run here). One stand-in of its own with one server, ``edge-1`` (the stand-in runs
every server on this engine: what is tested is what Dokploy's API records and reports per server), stacks with
random names, images under their own names and repositories, host ports chosen free at run time:

- backend in stack mode on edge-1: brain-api (2 replicas, not published: on one node only one task may hold a
  host port; reached by its alias on dokploy-network) and ai-agents (1 replica, a host-mode port);
- frontend in compose mode on Dokploy's host: admin-dashboard.

In order: an unknown server fails before anything changes; the first `up` deploys end to end; a one-image
change (ai-agents) rolls only that service; an unhealthy brain-api image is rolled back by Swarm and the `up`
fails naming it while the previous digest keeps answering; the frontend moves from compose to stack mode
(preview, then up). Every stack, service and container is removed at the end, also when a test fails.
"""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from deployctl import engine, ledger
from deployctl.operations import EngineFailed, preview, up
from deployctl.preview.__main__ import main as summary_main
from dokploy_api import DokployClient
from testkit import images
from testkit.dokploy import FakeDokploy
from tests.engine_helpers import NS, ROOT, StackFiles, free_ports, remove_compose_apps, remove_stack, sh

pytestmark = pytest.mark.engine
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
KEEP = ("brain-api", "ai-agents", "admin-dashboard")


def swarm_manager() -> bool:
    out = subprocess.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"],
                         capture_output=True, text=True, check=False).stdout.strip()
    net = subprocess.run(["docker", "network", "inspect", "-f", "{{.Driver}} {{.Attachable}}", "dokploy-network"],
                         capture_output=True, text=True, check=False).stdout.strip()
    return out == "active true" and net == "overlay true"


class World(StackFiles):
    """The stand-in, the images, the stacks and a probe container on dokploy-network."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run = secrets.token_hex(3)
        self.key = secrets.token_hex(16)
        self.srv = FakeDokploy(api_keys={self.key}, docker=True, work_dir=tmp / "dokploy", state_file=tmp / "dokploy.json", latency=0,
                               servers=["edge-1"])
        self.srv.start()
        self.registry = f"127.0.0.1:5000/stack-{self.run}"
        self.stacks: list[str] = []
        self.images: dict[str, str] = {}
        for name in KEEP:
            self.images[name] = self.build(name, "ok")
        self.images["ai-agents-v2"] = self.build("ai-agents", "v2")
        self.images["brain-api-sick"] = self.build("brain-api", "sick", health_status=500)
        self.probe = f"stack-{self.run}-probe"  # a client on dokploy-network, as another service would be
        sh("docker", "run", "-d", "--name", self.probe, "--network", "dokploy-network", "--entrypoint", "/bin/sh",
           self.images["brain-api"], "-c", "trap 'exit 0' TERM; sleep 3600 & wait")

    def build(self, service: str, variant: str, **kw: Any) -> str:
        spec = RAW["services"][service]
        tag = f"stack-{self.run}/{service}:{variant}"
        images.build_image(tag, service, int(spec["port"]), spec["health"], variant=f"{self.run}-{variant}", **kw)
        return tag

    def stack_config(self, stack: str, ports: list[int], **extra: Any) -> dict[str, Any]:
        services: dict[str, Any] = {n: {"enabled": False} for n in RAW["services"] if n not in KEEP}
        services["brain-api"] = {"published": False, "local_image": self.images["brain-api"]}
        services["ai-agents"] = {"published": ports[0], "local_image": self.images["ai-agents"]}
        services["admin-dashboard"] = {"published": ports[1], "local_image": self.images["admin-dashboard"]}
        backend = {"mode": "stack", "server": "edge-1", "ports": "host", "endpointMode": "dnsrr"}
        keys = {"composeProjects": {"backend": backend}, "healthTimeout": 150, "stabilityWindow": 4}
        return self.config(stack, services, {**keys, **extra})

    def compose(self, stack: str, group: str) -> dict[str, Any]:
        compose_id = engine.stack(stack).outputs()["compose_project_ids"].value[group]
        with DokployClient(self.srv.base_url, self.key, allow_insecure_http=True) as client:
            return client.compose.one(compose_id)

    def server_id(self, name: str) -> str:
        return next(s["serverId"] for s in self.srv.state.servers.values() if s["name"] == name)

    def fetch(self, url: str) -> str:
        """GET from the probe container on dokploy-network ("" when it does not answer 2xx)."""
        done = subprocess.run(["docker", "exec", self.probe, "timeout", "5", "wget", "-q", "-O", "-", url],
                              capture_output=True, text=True, timeout=30, check=False)
        return done.stdout if done.returncode == 0 else ""

    def close(self) -> None:
        for stack in reversed(self.stacks):
            remove_stack(stack)
        apps = [(c["appName"], c["composeType"]) for c in self.srv.state.composes.values()]
        self.srv.stop()
        for app, kind in apps:  # whatever a failed test or destroy left behind
            if kind == "stack":
                subprocess.run(["docker", "stack", "rm", app], capture_output=True, check=False)
        remove_compose_apps(self.srv)  # the compose-mode apps: their containers and networks
        for app, _ in apps:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and sh("docker", "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={app}"):
                time.sleep(0.5)
        subprocess.run(["docker", "rm", "-f", self.probe], capture_output=True, check=False)
        pushed = sh("docker", "images", "-q", "--filter", f"reference={self.registry}/*").split()
        subprocess.run(["docker", "rmi", "-f", *self.images.values(), *sorted(set(pushed))], capture_output=True, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if not swarm_manager():
        pytest.skip("needs the engine as a Swarm manager with dokploy-network an attachable overlay: bash scripts/swarm.sh up")
    tmp = tmp_path_factory.mktemp("stack-mode")
    (tmp / "backend").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PULUMI_BACKEND_URL", (tmp / "backend").as_uri())
        env.setenv("BIZOSAAS_LEDGER_DIR", str(tmp / "ledger"))
        w = World(tmp)
        try:
            yield w
        finally:
            w.close()


@pytest.fixture(scope="module")
def stack(world: World) -> str:
    name = f"sm{world.run}"
    world.init(name, world.stack_config(name, free_ports(2)))
    return name


def problems(err: pytest.ExceptionInfo[EngineFailed]) -> str:
    return "\n".join(err.value.problems)


def service(name: str, fmt: str) -> str:
    return sh("docker", "service", "inspect", name, "--format", fmt)


def get(url: str) -> str:
    """GET from this host (a host-mode port answers on every address)."""
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.text


def deploys_of(world: World, compose_id: str) -> int:
    return len([d for d in world.srv.state.deployments.values() if d["composeId"] == compose_id])


def test_an_unknown_server_fails_before_anything_is_pushed_or_written(world: World) -> None:
    name = f"sm{world.run}x"
    config = world.stack_config(name, free_ports(2))
    config[f"{NS}:composeProjects"] = {"backend": {"mode": "stack", "server": "edge-9", "ports": "host", "endpointMode": "dnsrr"}}
    world.init(name, config)
    world.srv.reset_calls()
    with pytest.raises(EngineFailed) as err:
        up(name, quiet=True)
    text = problems(err)
    print(f"\n{text}")
    assert f"stack {name}: {NS}:composeProjects/backend/server: no Dokploy server is named 'edge-9' (Dokploy's servers: edge-1)" in text
    assert "invalid configuration, nothing was pushed or deployed" in text
    assert [p for m, p, _ in world.srv.calls if m == "POST"] == [] and "server.all" in [p for _, p, _ in world.srv.calls]
    # and the reads of the clash check (components/clash_check.py), started in the background before the servers are resolved
    assert {p for _, p, _ in world.srv.calls} <= {"server.all", "project.all", "overview.domains", "compose.one"}
    assert not sh("docker", "images", "-q", "--filter", f"reference={world.registry}/*")


def test_backend_as_a_stack_on_a_server_and_frontend_in_compose_mode_deploy_and_verify(world: World, stack: str) -> None:
    world.srv.reset_calls()
    result, elapsed = up(stack, quiet=True)
    out = {k: v.value for k, v in result.outputs.items()}
    print(f"\nfirst up took {elapsed:.1f}s; verification: {json.dumps(out['verification'], indent=1)}")
    assert out["verified"] is True
    record = out["verification"]
    assert record["brain-api"]["replicas"] == 2 and record["brain-api"]["health"] == "healthy"
    assert record["ai-agents"]["replicas"] == 1 and record["admin-dashboard"]["containers"] == [f"bizosaas-admin-dashboard-{stack}"]
    assert {n: r["digest"] for n, r in record.items()} == out["image_digests"]

    backend, frontend = world.compose(stack, "backend"), world.compose(stack, "frontend")
    assert (backend["composeType"], backend["serverId"], backend["server"]["name"]) == ("stack", world.server_id("edge-1"), "edge-1")
    assert (frontend["composeType"], frontend["serverId"]) == ("docker-compose", None)
    app = backend["appName"]
    assert service(f"{app}_brain-api", "{{.Spec.Mode.Replicated.Replicas}} {{.Spec.EndpointSpec.Mode}}") == "2 dnsrr"
    assert service(f"{app}_brain-api", "{{.Spec.TaskTemplate.ContainerSpec.Image}}") == out["release_manifest"]["brain-api"]
    assert service(f"{app}_ai-agents", "{{.Spec.UpdateConfig.Order}}") == "stop-first"  # it holds a host port
    assert service(f"{app}_brain-api", "{{.Spec.UpdateConfig.Order}} {{.Spec.UpdateConfig.FailureAction}}") == "start-first rollback"
    compose = yaml.safe_load(out["compose"]["backend"])
    assert "container_name" not in compose["services"]["brain-api"]

    ports = world.plain(stack, "services")
    agents, dashboard = ports["ai-agents"]["published"], ports["admin-dashboard"]["published"]
    assert '"status":"ok"' in get(f"http://127.0.0.1:{agents}/health")  # a Swarm task's host-mode port
    assert '"status":"ok"' in get(f"http://127.0.0.1:{dashboard}/api/health")
    brain_url = f"http://bizosaas-brain-{stack}:8001"
    assert compose["services"]["ai-agents"]["environment"]["BRAIN_API_URL"] == brain_url
    assert '"service":"brain-api"' in world.fetch(f"{brain_url}/health")  # the per-stack alias on dokploy-network

    calls = Counter(p for _, p, _ in world.srv.calls if p.startswith(("docker.", "swarm.", "server.")))
    print(f"calls: {dict(calls)}")
    assert calls["server.all"] == 1 and calls["swarm.getNodeApps"] >= 2


def test_a_one_image_change_rolls_only_that_service(world: World, stack: str) -> None:
    app = world.compose(stack, "backend")["appName"]
    # `docker stack deploy` submits every service's spec again (Swarm's version index moves), but only a changed one rolls:
    # UpdateStatus is set when a rollout starts, and the tasks (their containers) are replaced only then
    rollout = "{{if .UpdateStatus}}{{.UpdateStatus.State}} {{.UpdateStatus.StartedAt}}{{end}}"
    before_brain = service(f"{app}_brain-api", rollout)
    brain_tasks = sh("docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={app}_brain-api").split()
    frontend_id = world.compose(stack, "frontend")["composeId"]
    frontend_deploys = deploys_of(world, frontend_id)
    services = world.plain(stack, "services")
    world.set_plain(stack, "services", {**services, "ai-agents": {**services["ai-agents"], "local_image": world.images["ai-agents-v2"]}})
    result, elapsed = up(stack, quiet=True)
    out = {k: v.value for k, v in result.outputs.items()}
    print(f"\none-image up took {elapsed:.1f}s")
    assert out["verified"] is True
    assert service(f"{app}_ai-agents", "{{.Spec.TaskTemplate.ContainerSpec.Image}}") == out["release_manifest"]["ai-agents"]
    assert service(f"{app}_brain-api", rollout) == before_brain  # no rollout of brain-api
    assert service(f"{app}_ai-agents", rollout).startswith(("updating ", "completed "))  # ai-agents rolled (monitor: 30s)
    now = sh("docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={app}_brain-api").split()
    assert sorted(now) == sorted(brain_tasks)  # the same two tasks
    assert deploys_of(world, frontend_id) == frontend_deploys  # the frontend project was not deployed
    ports = world.plain(stack, "services")
    assert "-v2" in get(f"http://127.0.0.1:{ports['ai-agents']['published']}/health")


def test_an_unhealthy_image_is_rolled_back_by_swarm_and_the_up_fails_naming_it(world: World, stack: str) -> None:
    before = engine.stack(stack).outputs()
    good = before["release_manifest"].value["brain-api"]
    app = world.compose(stack, "backend")["appName"]
    brain_url = f"http://bizosaas-brain-{stack}:8001/health"
    services = world.plain(stack, "services")
    world.set_plain(stack, "services", {**services, "brain-api": {**services["brain-api"], "local_image": world.images["brain-api-sick"]}})
    world.set_plain(stack, "testGate", False)  # the gate would stop this image before its push; here Swarm must catch it
    answers: list[bool] = []
    started = time.monotonic()
    try:
        with pytest.raises(EngineFailed) as err:
            up(stack, quiet=True)
    finally:
        world.set_plain(stack, "services", services)
        world.set_plain(stack, "testGate", True)
    text = problems(err)
    print(f"\nSwarm's rollback failed the up after {time.monotonic() - started:.1f}s:\n{text}")
    head = (f"stack project backend ({app}): not running as deployed: brain-api: "  # its catalog name, Dokploy's app name after it
            f"expected the Swarm service on {world.registry}/brain-api@sha256:")
    assert head in text
    assert f"; saw it runs {good} again: Swarm rolled the update back" in text
    assert "last health check: exit 1: wget: server returned error: HTTP/1.0 500 Test" in text
    assert "Swarm tasks of brain-api that ended (docker stack ps):" in text
    assert "the previous version verified again: ai-agents, brain-api as deployed, healthy, stable over 4s" in text
    assert service(f"{app}_brain-api", "{{.Spec.TaskTemplate.ContainerSpec.Image}}") == good
    answers.append('"service":"brain-api"' in world.fetch(brain_url))
    assert answers == [True]  # the previous digest still answers, by its alias
    attempted, *older = ledger.releases(stack)  # newest first: the attempt is recorded as failed, never as verified
    assert attempted.status == "failed"
    last_verified = next(r for r in older if r.status == "verified")
    assert (last_verified.last.release or {})["manifest"]["brain-api"] == good
    result, _ = up(stack, quiet=True)  # the image fixed (the previous one again): verified, and the state settled
    assert result.outputs["verified"].value is True and result.outputs["release_manifest"].value["brain-api"] == good


def test_moving_the_frontend_from_compose_to_stack_mode_is_a_planned_replacement(world: World, stack: str) -> None:
    projects = world.plain(stack, "composeProjects")
    world.set_plain(stack, "composeProjects", {**projects, "frontend": {"mode": "stack", "ports": "host", "endpointMode": "dnsrr"}})
    engine_out = io.StringIO()
    with redirect_stdout(engine_out):
        preview(stack)
    engine_text = engine_out.getvalue()
    (world.tmp / "preview.txt").write_text(engine_text)
    summary = world.tmp / "summary.md"
    assert summary_main(["--stack", stack, "--out", str(summary)]) == 0
    markdown = summary.read_text()
    block = _block(engine_text, "ComposeProject::frontend]")
    print(f"\n--- pulumi preview --diff: the frontend ---\n{block}\n--- PR summary ---\n{markdown}")
    assert block.splitlines()[0].strip() == "+-pulumi-python:dynamic/dokploy:ComposeProject: (replace)", block
    assert '~ compose_type       : "docker-compose" => "stack"' in block
    assert ("- `frontend`: replace: moves from compose mode (docker compose) on Dokploy's host to stack mode (docker stack deploy "
            "on Dokploy's Swarm) on Dokploy's host: the compose project is deleted in Dokploy") in markdown
    assert "- `backend`:" not in markdown  # only the move

    old_container = f"bizosaas-admin-dashboard-{stack}"
    result, elapsed = up(stack, quiet=True)
    print(f"the move took {elapsed:.1f}s")
    assert result.outputs["verified"].value is True
    frontend = world.compose(stack, "frontend")
    assert frontend["composeType"] == "stack"
    assert not sh("docker", "ps", "-aq", "--filter", f"name=^{old_container}$")
    dashboard = world.plain(stack, "services")["admin-dashboard"]["published"]
    assert '"status":"ok"' in get(f"http://127.0.0.1:{dashboard}/api/health")
    assert len([c for c in world.srv.state.composes.values() if c["name"] == "frontend"]) == 1  # the old one was deleted


def _block(text: str, urn_end: str) -> str:
    """One resource's part of `pulumi preview --diff`: its header (above its ``[id=...]`` and ``[urn=...]`` lines) and what
    is indented under it."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("[urn=") and line.strip().endswith(urn_end))
    while at > 0 and lines[at - 1].strip().startswith("["):
        at -= 1
    header = lines[at - 1]
    indent = len(header) - len(header.lstrip())
    block = [header]
    for line in lines[at:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        block.append(line)
    return "\n".join(block)
