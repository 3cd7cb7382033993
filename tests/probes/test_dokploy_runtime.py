"""verify_runtime: the waits, the window, the failures and their logs (scripted readings, a fake clock), then the
readers against the Dokploy stand-in's simulation (calls made, crash loops, unhealthy, stack mode, servers)."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from core.verification import Container, Expected, expected_services
from dokploy_api import DokployClient
from dokploy_api.deploy import deploy_and_wait
from probes.dokploy_runtime import (
    ComposeRuntime,
    Observation,
    StackRuntime,
    VerificationFailed,
    runtime_for,
    signature,
    uptime,
    verify_runtime,
)
from testkit.dokploy import FakeDokploy
from tests.components.conftest import settle

NEW = "127.0.0.1:5000/shop/web@sha256:" + "b" * 64
OLD = "127.0.0.1:5000/shop/web@sha256:" + "a" * 64
WEB = {"web": Expected(NEW, healthcheck=True)}


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def web(*, health: str | None = "healthy", restarts: int = 0, state: str = "running", image: str = NEW, exit_code: int = 0) -> Container:
    return Container("cid-web-1", "app-web-1", "web", image, state, health, restarts, exit_code, "t0")


@dataclass
class Scripted:
    """A Runtime whose readings follow a script of (from this time on, containers); logs are canned."""

    time: FakeTime
    script: list[tuple[float, list[Container]]]
    log: list[str] = field(default_factory=lambda: ["2026-01-01T00:00:00Z starting", "2026-01-01T00:00:05Z panic: boom"])
    mode: str = "compose"
    app_name: str = "app"
    calls: Counter[str] = field(default_factory=Counter)
    reads: list[tuple[float, bool]] = field(default_factory=list)

    def read(self, *, inspect_all: bool = False) -> Observation:
        self.reads.append((self.time.now, inspect_all))
        current = [cs for since, cs in self.script if since <= self.time.now][-1]
        return Observation(list(current))

    def logs(self, container_id: str, lines: int) -> list[str]:
        return self.log[-lines:]

    def name_of(self, container_id: str) -> str:
        return "app-web-1"

    def describe(self) -> str:
        return f"{self.mode} project {self.app_name}"

    def explain(self, findings: Any, expected: Any, lines: int, logged: set[str]) -> list[str]:
        return []


def test_a_healthy_release_is_watched_for_the_window_then_recorded() -> None:
    t = FakeTime()
    runtime = Scripted(t, [(0, [web(health="starting")]), (3, [web()])])
    done = verify_runtime(runtime, WEB, health_timeout=60, window=5, interval=1, clock=t.clock, sleep=t.sleep)
    assert done.healthy_after == 3 and done.elapsed == 8
    assert done.record["web"] == {"digest": "sha256:" + "b" * 64, "image": NEW, "health": "healthy", "restarts": 0, "replicas": 1,
                                  "window_s": 5.0, "containers": ["app-web-1"]}
    assert [at for at, _ in runtime.reads] == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert [at for at, every in runtime.reads if every] == [8]  # every container inspected again once, at the end


def test_not_healthy_in_time_fails_at_the_deadline_naming_the_service_with_its_log() -> None:
    t = FakeTime()
    runtime = Scripted(t, [(0, [web(health="starting", state="restarting", restarts=3, exit_code=1)])])
    with pytest.raises(VerificationFailed) as info:
        verify_runtime(runtime, WEB, health_timeout=10, window=5, interval=4, clock=t.clock, sleep=t.sleep, log_lines=1)
    assert t.now == 10 and t.sleeps == [4, 4, 2]  # never past the deadline
    assert str(info.value) == (
        "verification failed: compose project app: not running healthy within 10s: "
        "web: expected healthy; saw app-web-1 restarting with code 1, starting, RestartCount 3\n"
        "last log lines of app-web-1:\n    2026-01-01T00:00:05Z panic: boom"
    )
    assert (info.value.phase, info.value.services) == ("health", ["web"])


def test_an_older_image_still_running_fails_at_once_in_compose_mode() -> None:
    t = FakeTime()
    runtime = Scripted(t, [(0, [web(image=OLD)])])
    match = r"not running as deployed: web: expected only \S+ running; saw app-web-1 still runs"
    with pytest.raises(VerificationFailed, match=match):
        verify_runtime(runtime, WEB, health_timeout=60, window=5, clock=t.clock, sleep=t.sleep)
    assert t.now == 0


def test_a_restart_during_the_window_fails_it_when_seen() -> None:
    t = FakeTime()
    runtime = Scripted(t, [(0, [web()]), (2.5, [web(restarts=1, health="starting")])])
    with pytest.raises(VerificationFailed) as info:
        verify_runtime(runtime, WEB, health_timeout=60, window=30, interval=1, clock=t.clock, sleep=t.sleep)
    assert t.now == 3 and info.value.phase == "window"
    assert str(info.value).startswith(
        "verification failed: compose project app: not stable over the 30s stability window: "
        "web: expected RestartCount to stay 0 over the 30s stability window; saw 1 (app-web-1 restarted; running again)\n"
        "last log lines of app-web-1:"
    )


def test_no_window_means_one_reading() -> None:
    t = FakeTime()
    runtime = Scripted(t, [(0, [web()])])
    assert verify_runtime(runtime, WEB, window=0, clock=t.clock, sleep=t.sleep).record["web"]["window_s"] == 0.0
    assert runtime.reads == [(0, False)]


@pytest.mark.parametrize(
    ("status", "seconds"),
    [("Up Less than a second (health: starting)", 0.0), ("Up 1 second", 1.0), ("Up 42 seconds (healthy)", 42.0),
     ("Up About a minute (unhealthy)", 60.0), ("Up 3 minutes", 180.0), ("Up About an hour", 3600.0), ("Up 2 days", 172800.0),
     ("Exited (1) 3 seconds ago", None), ("Restarting (1) Less than a second ago", None), ("Created", None), ("", None)],
)
def test_uptime_of_a_listed_status(status: str, seconds: float | None) -> None:
    assert uptime(status) == seconds


def test_signature_ignores_the_growing_duration_but_not_health_or_exit_code() -> None:
    up = {"state": "running", "status": "Up 3 seconds (healthy)"}
    assert signature(up) == signature({**up, "status": "Up 9 minutes (healthy)"})
    assert signature({"state": "running", "status": "Up 3 seconds (health: starting)"})[1] == "health: starting"
    assert signature({"state": "exited", "status": "Exited (137) 2 seconds ago"}) == ("exited", "", "137")


# -- the readers against the stand-in's simulation --------------------------------------------------

COMPOSE = (
    "services:\n"
    f"  web:\n    image: {NEW}\n    environment:\n      DATABASE_URL: ${{DATABASE_URL}}\n"
    "    healthcheck:\n      test: [CMD, wget, -q, -O, /dev/null, http://127.0.0.1:8080/health]\n"
    "  worker:\n    image: 127.0.0.1:5000/shop/worker@sha256:" + "c" * 64 + "\n    restart: unless-stopped\n    scale: 2\n"
)


@pytest.fixture
def key() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def srv(key: str) -> Iterator[FakeDokploy]:
    with FakeDokploy(api_keys={key}, latency=0, deploy_start_delay=0, deploy_duration=0, servers=["edge-1"]) as server:
        yield server


@pytest.fixture
def client(srv: FakeDokploy, key: str) -> Iterator[DokployClient]:
    with DokployClient(srv.base_url, key, allow_insecure_http=True) as c:
        yield c


@dataclass
class Deployed:
    compose_id: str
    app_name: str
    secret: str
    server_id: str | None = None


def deploy(client: DokployClient, compose: str = COMPOSE, compose_type: str = "docker-compose", server_id: str | None = None) -> Deployed:
    env_id = client.project.create(f"p-{secrets.token_hex(3)}")["environment"]["environmentId"]
    body = {"name": "backend", "environmentId": env_id, "composeType": compose_type, "sourceType": "raw"}
    row = client.mutate("compose.create", {**body, **({"serverId": server_id} if server_id else {})})
    client.compose.update(row["composeId"], composeFile=compose, composeType=compose_type)
    secret = f"postgres://app:{secrets.token_hex(8)}@db/app"
    client.add_redactions([secret])
    client.compose.save_environment(row["composeId"], f"DATABASE_URL={secret}\n")
    deploy_and_wait(client, row["composeId"], timeout=10, poll_interval=0.02)
    return Deployed(row["composeId"], row["appName"], secret, server_id)


def fast(window: float = 0.3, **kw: float) -> dict[str, float]:
    return {"health_timeout": 2.0, "window": window, "interval": 0.05, **kw}


def test_compose_reader_lists_once_per_reading_and_inspects_only_new_containers_and_at_the_end(
    client: DokployClient, srv: FakeDokploy
) -> None:
    d = deploy(client)
    settle(srv)
    srv.reset_calls()
    runtime = ComposeRuntime(client, d.compose_id, d.app_name)
    done = verify_runtime(runtime, expected_services(COMPOSE), **fast())
    assert done.record["web"]["health"] == "healthy" and done.record["worker"]["health"] == "none"
    assert done.record["worker"]["replicas"] == 2
    assert done.record["worker"]["containers"] == [f"{d.app_name}-worker-1", f"{d.app_name}-worker-2"]
    listings = runtime.calls["docker.getContainersByAppNameMatch"]
    assert listings >= 3 and runtime.calls["docker.getConfig"] == 3 + 3  # 3 new containers, and all 3 again at the end of the window
    assert dict(runtime.calls) == done.calls
    assert Counter(p for _, p, _ in settle(srv)) == {"docker.getContainersByAppNameMatch": listings, "docker.getConfig": 6}


def test_the_containers_of_one_reading_are_inspected_at_once(client: DokployClient, srv: FakeDokploy) -> None:
    """Dokploy serves requests concurrently: the 3 containers' ``docker.getConfig`` are in flight together (each waits at a
    barrier of 3 that one request at a time would never pass), both for the new containers and for the window's last look."""
    d = deploy(client)
    inspect = client.docker.config
    barrier = threading.Barrier(3, timeout=10)

    def together(container_id: str, server_id: str | None = None) -> Any:
        barrier.wait()
        return inspect(container_id, server_id)

    client.docker.config = together  # type: ignore[method-assign]
    runtime = ComposeRuntime(client, d.compose_id, d.app_name)
    done = verify_runtime(runtime, expected_services(COMPOSE), **fast())
    assert runtime.calls["docker.getConfig"] == 6 and done.record["worker"]["replicas"] == 2


def test_a_crash_loop_fails_naming_the_service_with_its_log_and_no_secret(client: DokployClient, srv: FakeDokploy) -> None:
    d = deploy(client)
    srv.containers.set(f"{d.app_name}-worker-2", crash_every=0.1, log=f"panic: cannot reach {d.secret}")
    with pytest.raises(VerificationFailed) as info:
        verify_runtime(ComposeRuntime(client, d.compose_id, d.app_name), expected_services(COMPOSE), **fast(health_timeout=0.5))
    msg = str(info.value)
    assert f"not running healthy within 0.5s: worker: expected running; saw {d.app_name}-worker-2 restarting with code 1" in msg
    assert f"last log lines of {d.app_name}-worker-2:\n    " in msg and "panic: cannot reach ***" in msg
    assert d.secret not in msg and info.value.services == ["worker"]


def test_a_crash_after_the_release_was_healthy_fails_the_window(client: DokployClient, srv: FakeDokploy) -> None:
    d = deploy(client)
    timer = threading.Timer(0.4, lambda: srv.containers.set(f"{d.app_name}-web-1", crash_every=0.05))
    timer.start()
    try:
        started = time.monotonic()
        with pytest.raises(VerificationFailed) as info:
            verify_runtime(ComposeRuntime(client, d.compose_id, d.app_name), expected_services(COMPOSE), **fast(window=5.0))
        assert time.monotonic() - started < 3  # failed when seen, not at the end of the window
    finally:
        timer.cancel()
    assert info.value.phase == "window"
    assert "web: expected RestartCount to stay 0 over the 5s stability window; saw " in str(info.value)


def test_a_container_turning_unhealthy_is_inspected_when_its_listed_health_changes(client: DokployClient, srv: FakeDokploy) -> None:
    d = deploy(client)
    runtime = ComposeRuntime(client, d.compose_id, d.app_name)
    runtime.read()
    runtime.read()
    assert runtime.calls["docker.getConfig"] == 3  # nothing changed: nothing inspected again
    srv.containers.set(f"{d.app_name}-web-1", health="unhealthy")
    [web_now] = [c for c in runtime.read().containers if c.service == "web"]
    assert web_now.health == "unhealthy" and runtime.calls["docker.getConfig"] == 4


def test_the_deployed_release_is_not_an_older_digest(client: DokployClient) -> None:
    d = deploy(client)
    newer = {**expected_services(COMPOSE), "web": Expected(NEW.replace("b" * 64, "e" * 64), healthcheck=True)}
    match = rf"web: expected only \S+eeee running; saw {d.app_name}-web-1 still runs {NEW} \(running\)"
    with pytest.raises(VerificationFailed, match=match):
        verify_runtime(ComposeRuntime(client, d.compose_id, d.app_name), newer, **fast())


STACK_COMPOSE = f"services:\n  web:\n    image: {NEW}\n    deploy:\n      replicas: 2\n"


def test_stack_reader_checks_swarm_replicas_and_the_tasks_containers(client: DokployClient, srv: FakeDokploy) -> None:
    d = deploy(client, STACK_COMPOSE, "stack")
    runtime = runtime_for(client, "stack", d.compose_id, d.app_name)
    assert isinstance(runtime, StackRuntime)
    done = verify_runtime(runtime, expected_services(STACK_COMPOSE), **fast())
    assert done.record["web"]["replicas"] == 2 and all(n.startswith(f"{d.app_name}_web.") for n in done.record["web"]["containers"])
    assert runtime.calls["swarm.getNodeApps"] == runtime.calls["docker.getContainersByAppNameMatch"]
    task = done.record["web"]["containers"][0]
    srv.containers.set(task, state="exited", exit_code=1)
    with pytest.raises(VerificationFailed, match=r"web: expected replicas 2/2; saw replicas 1/2"):
        verify_runtime(runtime_for(client, "stack", d.compose_id, d.app_name), expected_services(STACK_COMPOSE), **fast(health_timeout=0.3))


def test_readers_ask_the_server_the_compose_runs_on(client: DokployClient, srv: FakeDokploy) -> None:
    edge = next(s["serverId"] for s in client.query("server.all") if s["name"] == "edge-1")
    d = deploy(client, STACK_COMPOSE, "stack", server_id=edge)
    assert verify_runtime(runtime_for(client, "stack", d.compose_id, d.app_name, edge), expected_services(STACK_COMPOSE), **fast())
    with pytest.raises(VerificationFailed, match="no such service in the stack"):  # the Dokploy host itself does not run it
        verify_runtime(runtime_for(client, "stack", d.compose_id, d.app_name), expected_services(STACK_COMPOSE), **fast(health_timeout=0.2))
    assert ("GET", "swarm.getNodeApps", 200) in settle(srv)


def test_an_empty_listing_is_asked_again_and_a_failed_inspect_keeps_the_last_view(client: DokployClient) -> None:
    """Dokploy answers [] (listing) and an empty body (inspect) when its docker command fails."""
    d = deploy(client)
    runtime = ComposeRuntime(client, d.compose_id, d.app_name)
    first = runtime.read().containers
    listing, inspect = client.docker.containers_by_app_name_match, client.docker.config
    answers: list[Any] = [[]]
    client.docker.containers_by_app_name_match = lambda *a: answers.pop() if answers else listing(*a)  # type: ignore[method-assign]
    assert runtime.read().containers == first and runtime.calls["docker.getContainersByAppNameMatch"] == 3
    client.docker.config = lambda *a: None  # type: ignore[method-assign]
    assert sorted(c.id for c in runtime.read(inspect_all=True).containers) == sorted(c.id for c in first)
    client.docker.config = inspect  # type: ignore[method-assign]
    before = runtime.calls["docker.getConfig"]
    runtime.read()
    assert runtime.calls["docker.getConfig"] == before  # the views kept are current again: nothing to inspect


def test_task_errors_of_one_service_newest_first_without_the_parser_quirk() -> None:
    rows = [
        {"containerId": "t5", "name": "app_web.1", "state": "running", "currentState": "Running 2 seconds ago", "error": ""},
        {"containerId": "t4", "name": "app_web.1", "state": "shutdown", "currentState": "Complete 3 seconds ago", "error": ""},
        {"containerId": "t3", "name": "app_web.1", "state": "shutdown", "currentState": "Failed 9 seconds ago",
         "error": "task: non-zero exit (1)"},
        {"containerId": "t2", "name": "app_webhook.1", "state": "shutdown", "currentState": "Failed", "error": "other service"},
        {"containerId": "t1", "name": "app_web.2", "state": "shutdown", "currentState": "Shutdown 1 minute ago", "error": "Error:"},
    ]
    from probes.dokploy_runtime import task_errors

    assert task_errors(rows, "app", "web") == [
        "task t4 app_web.1 (Complete 3 seconds ago): no error (its process exited 0)",
        "task t3 app_web.1 (Failed 9 seconds ago): task: non-zero exit (1)",
    ]
    assert task_errors(rows, "app", "webhook") == ["task t2 app_webhook.1 (Failed): other service"]


def test_a_swarm_rollback_fails_at_once_naming_the_service_the_task_error_and_the_new_image_log(
    client: DokployClient, srv: FakeDokploy
) -> None:
    d = deploy(client, STACK_COMPOSE, "stack")
    runtime = runtime_for(client, "stack", d.compose_id, d.app_name)
    assert isinstance(runtime, StackRuntime)
    runtime.read()  # the new tasks were seen once (their containers leave the running listing when Swarm rolls back)
    seen = sorted(c.name for c in runtime.read().containers)
    rows = [{"containerId": "tk2", "name": f"{d.app_name}_web.1", "state": "shutdown", "currentState": "Failed 3 seconds ago",
             "error": "task: non-zero exit (1)"}]
    client.docker.stack_containers = lambda *a: rows  # type: ignore[method-assign]
    node_apps = client.swarm.node_apps
    client.swarm.node_apps = lambda *a: [{**r, "Image": OLD} for r in node_apps(*a)]  # type: ignore[method-assign]
    srv.containers.set(seen[-1], log="new image: cannot reach the database")
    with pytest.raises(VerificationFailed) as info:
        verify_runtime(runtime, expected_services(STACK_COMPOSE), **fast())
    text = str(info.value)
    assert info.value.phase == "deploy" and info.value.services == ["web"]
    assert (
        f"stack project {d.app_name}: not running as deployed: web: expected the Swarm service on {NEW}; "
        f"saw it runs {OLD} again: Swarm rolled the update back" in text
    )
    failed = f"task tk2 {d.app_name}_web.1 (Failed 3 seconds ago): task: non-zero exit (1)"
    assert f"Swarm tasks of web that ended (docker stack ps):\n    {failed}" in text
    assert f"last seen of the new image sha256:bbbbbbbbbbbb: {seen[-1]} running\nlast log lines of {seen[-1]}:\n    " in text
    assert "new image: cannot reach the database" in text
    assert runtime.calls["docker.getStackContainersByAppName"] == 1


def test_a_task_without_a_container_yet_is_not_inspected(client: DokployClient, srv: FakeDokploy) -> None:
    """Dokploy lists a stack's task that has no container yet (preparing, starting) with containerId ""."""
    d = deploy(client, STACK_COMPOSE, "stack")
    runtime = runtime_for(client, "stack", d.compose_id, d.app_name)
    listing = client.docker.containers_by_app_name_match
    pending = {"containerId": "", "name": f"{d.app_name}_web.3.abc", "node": "vm", "state": "preparing", "status": "Preparing 1 second ago"}
    client.docker.containers_by_app_name_match = lambda *a: [*listing(*a), pending]  # type: ignore[method-assign]
    assert len(runtime.read().containers) == 2 and runtime.calls["docker.getConfig"] == 2
