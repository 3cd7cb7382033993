"""`deployctl status` and `deployctl logs` against the Dokploy stand-in (its container simulation): what they read through Dokploy's
API, the drift they show, the log lines they print with every secret redacted, and the arguments they refuse."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest

from core.ledger import sha256_text
from core.status import KnownRelease, status
from deployctl import logs, target
from deployctl import status as status_cmd
from dokploy_api import DokployClient
from dokploy_api.deploy import deploy_and_wait
from testkit.dokploy import FakeDokploy

REPO = "127.0.0.1:5000/shop"
A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def compose(web: str) -> str:
    return (
        f"services:\n  web:\n    image: {REPO}/web@{web}\n    environment:\n      DATABASE_URL: ${{DATABASE_URL}}\n"
        "    healthcheck:\n      test: [CMD, wget, -q, -O, /dev/null, http://127.0.0.1:8080/health]\n"
        f"  worker:\n    image: {REPO}/worker@{A}\n    scale: 2\n"
    )


def release(rid: str, web: str) -> KnownRelease:
    text = compose(web)
    record = {"id": rid, "manifest": {"web": f"{REPO}/web@{web}", "worker": f"{REPO}/worker@{A}"},
              "compose": {"backend": {"text": text, "sha256": sha256_text(text)}}}
    return KnownRelease(rid, "verified", record)


class Stack:
    """One stack's Dokploy project on the stand-in, with a compose project `backend` deployed (simulated containers)."""

    def __init__(self, srv: FakeDokploy, key: str) -> None:
        self.srv, self.key = srv, key
        self.target = target.Target(f"s{secrets.token_hex(3)}", srv.base_url, f"bizosaas-{secrets.token_hex(3)}", "production")
        self.secret = f"postgres://app:{secrets.token_hex(8)}@db/app"
        with self.client() as client:
            env_id = client.project.create(self.target.project)["environment"]["environmentId"]
            row = client.compose.create("backend", env_id, source_type="raw")
            self.compose_id, self.app_name = row["composeId"], row["appName"]
            client.compose.update(self.compose_id, composeFile=compose(A))
            client.compose.save_environment(self.compose_id, f"DATABASE_URL={self.secret}\n")
            deploy_and_wait(client, self.compose_id, timeout=10, poll_interval=0.02)

    def client(self) -> DokployClient:
        return target.client(self.target, self.key)


@pytest.fixture
def stack() -> Iterator[Stack]:
    key = secrets.token_hex(16)
    with FakeDokploy(api_keys={key}, latency=0, deploy_start_delay=0, deploy_duration=0) as srv:
        yield Stack(srv, key)


def test_status_reads_what_runs_through_dokploy_and_matches_the_release(stack: Stack) -> None:
    stack.srv.reset_calls()
    with stack.client() as client:
        [row] = status_cmd.composes(client, stack.target)
        seen = status_cmd.view(client, row, {"web": ["shop.example.com/"]})
    assert (seen.name, seen.app_name, seen.mode, seen.compose_file) == ("backend", stack.app_name, "compose", compose(A))
    report = status(stack.target.stack, [seen], [release("r-000000000001", A)])
    assert report.matches, report.drift
    assert [(s.service, s.digest, s.release, s.health, s.replicas) for s in report.services] == [
        ("web", A, "r-000000000001", "healthy", "1/1"), ("worker", A, "r-000000000001", "running", "2/2")]
    assert report.services[0].routes == ["shop.example.com/"] and report.services[0].up_since.endswith("Z")
    assert {p for method, p, _ in stack.srv.calls if method != "GET"} == set()  # reads only
    assert {p for _, p, _ in stack.srv.calls} == {"project.all", "environment.one", "compose.one", "docker.getContainersByAppNameMatch",
                                                   "docker.getConfig"}


def test_status_shows_a_compose_file_changed_in_dokploy_and_exits_3(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with stack.client() as client:  # someone edits the compose file in Dokploy's UI and redeploys it
        client.compose.update(stack.compose_id, composeFile=compose(B))
        deploy_and_wait(client, stack.compose_id, timeout=10, poll_interval=0.02, redeploy=True)
    monkeypatch.setattr(target, "read", lambda s: stack.target)
    monkeypatch.setattr(target, "api_key", lambda s: stack.key)
    monkeypatch.setattr(status_cmd, "known_releases", lambda s: [release("r-000000000001", A)])
    assert status_cmd.run(stack.target.stack, as_json=False) == 3
    out = capsys.readouterr().out
    assert f"stack {stack.target.stack}: DRIFT from its last verified release r-000000000001 (2):" in out
    assert f"compose project backend ({stack.app_name}): its compose file in Dokploy differs from release r-000000000001's" in out
    assert f"  - web: expected only {REPO}/web@{A} running; saw {stack.app_name}-web-1 still runs {REPO}/web@{B}" in out
    assert status_cmd.run(stack.target.stack, as_json=True) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["matches"] is False and doc["release"] == "r-000000000001"
    assert [(s["service"], s["digest"], s["release"], s["matches"]) for s in doc["services"]] == [
        ("web", B, "", False), ("worker", A, "r-000000000001", True)]


def test_logs_print_each_container_of_the_service_with_secrets_redacted(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.srv.containers.set(f"{stack.app_name}-worker-2", log=f"connecting to {stack.secret}")
    monkeypatch.setattr(target, "read", lambda s: stack.target)
    monkeypatch.setattr(target, "api_key", lambda s: stack.key)
    assert logs.run(stack.target.stack, "worker", tail=5, since="1d") == 0
    captured = capsys.readouterr()
    assert f"==> {stack.app_name}-worker-1 (running) <==" in captured.out
    assert f"==> {stack.app_name}-worker-2 (running) <==" in captured.out
    assert "connecting to ***" in captured.out and stack.secret not in captured.out + captured.err
    assert f"worker in compose project backend ({stack.app_name})" in captured.err
    assert 'invalid value for "since"' not in captured.out  # 1d went as 24h: Docker's --since takes no d (Dokploy passes it through)
    with pytest.raises(logs.LogsError, match=r"stack s\w+: no service 'nope' in its compose projects in Dokploy \(services: web "
                                             r"\(backend\), worker \(backend\)\)"):
        logs.run(stack.target.stack, "nope", tail=5, since="all")


@pytest.mark.parametrize(("given", "sent"), [("all", "all"), ("30s", "30s"), ("15m", "15m"), ("2h", "2h"), ("3d", "72h")])
def test_since_maps_to_what_docker_takes(given: str, sent: str) -> None:
    assert logs.since_arg(given) == sent


@pytest.mark.parametrize("bad", ["yesterday", "10", "1w", "-5m", "2026-12-01"])
def test_a_since_dokploy_would_refuse_is_refused_first(bad: str) -> None:
    with pytest.raises(logs.LogsError, match=r"should be all, or a number and s, m, h or d"):
        logs.since_arg(bad)


def test_a_tail_out_of_dokploys_range_is_refused_before_any_call() -> None:
    for tail in (0, 10001):
        with pytest.raises(logs.LogsError, match=r"should be 1-10000"):
            logs.run("any", "web", tail=tail, since="all")




def test_status_shows_each_services_routes_from_the_release_record() -> None:
    route = {"host": "api.example.com", "path": "/", "port": 8001, "https": True, "certificate": "letsencrypt", "cert_resolver": "",
             "health": "/health"}
    record = {"compose": {"backend": {"routes": {"brain-api": route, "docs": {**route, "host": "docs.example.com", "path": "/v1",
                                                                                    "https": False}}}}}
    assert status_cmd.routes_of(record, "backend") == {"brain-api": ["https://api.example.com"], "docs": ["http://docs.example.com/v1"]}
    assert status_cmd.routes_of(record, "frontend") == {}
