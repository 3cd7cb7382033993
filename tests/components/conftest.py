"""Fixtures of the Dokploy provider tests: a Dokploy stand-in, a key, secrets, provider inputs, call counters."""


from __future__ import annotations

import http.server
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from components.compose_project import ComposeProjectProvider
from components.registry_credentials import RegistryProvider
from dokploy_api import DokployClient
from dokploy_api.lookup import find_or_create_environment, find_or_create_project
from testkit.dokploy import FakeDokploy

ROOT = Path(__file__).resolve().parents[2]
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
URN = "urn:pulumi:test::bizosaas-deploy::pulumi-python:dynamic/dokploy:ComposeProject::backend"
REG_URN = "urn:pulumi:test::bizosaas-deploy::pulumi-python:dynamic/dokploy:Registry::registry"

FAST_CLIENT = {"backoff": 0.05, "max_backoff": 0.4, "timeout": (2.0, 5.0)}
FAST_HEALTH = {"interval": 0.02, "max_interval": 0.1}
FAST_DEPLOY = {"unsure_grace": 1.5, "log_lines": 20}
FAST_VERIFY = {"interval": 0.05}


@pytest.fixture(autouse=True)
def no_other_projects(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the other projects on Dokploy publish and route (components.clash_check) for the program under mocks:
    nothing, read without a network (a test that wants a clash passes its own list_others)."""
    from components import clash_check

    monkeypatch.setattr(clash_check, "_reader", lambda deploy, key: clash_check.Listing)


@pytest.fixture
def api_key() -> str:
    return secrets.token_hex(20)


@pytest.fixture
def env_secrets() -> dict[str, str]:
    return {"DATABASE_URL": f"postgresql://app:{secrets.token_hex(12)}@db:5432/app", "JWT_SECRET": secrets.token_hex(16)}


@pytest.fixture
def srv(api_key: str) -> Iterator[FakeDokploy]:
    server = FakeDokploy(api_keys={api_key}, docker=False, latency=0, deploy_start_delay=0.05, deploy_duration=0.05)
    server.start()
    try:
        yield server
    finally:
        server.restart()  # releases a stuck job, if a test left one
        server.stop()


class HealthService:
    """Loopback HTTP service whose /health status a test can flip."""

    def __init__(self) -> None:
        self.status = 200
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = b"ok" if outer.status == 200 else b"upstream not ready"
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def health() -> Iterator[HealthService]:
    service = HealthService()
    try:
        yield service
    finally:
        service.close()


@pytest.fixture
def provider() -> ComposeProjectProvider:
    return ComposeProjectProvider(
        client_options=dict(FAST_CLIENT),
        health_options=dict(FAST_HEALTH),
        deploy_options=dict(FAST_DEPLOY),
        verify_options=dict(FAST_VERIFY),
    )


def compose_yaml(web_digest: str = DIGEST_A) -> str:
    return (
        "services:\n"
        "  web:\n"
        f"    image: 127.0.0.1:5000/bizosaas/web@{web_digest}\n"
        "    environment:\n"
        "      DATABASE_URL: ${DATABASE_URL}\n"
        "  worker:\n"
        f"    image: 127.0.0.1:5000/bizosaas/worker@{DIGEST_A}\n"
    )


def env_text(values: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in {**values, "LOG_LEVEL": "INFO"}.items())


@pytest.fixture
def props(srv: FakeDokploy, api_key: str, env_secrets: dict[str, str]) -> dict[str, Any]:
    """ComposeProject inputs in the project a DokployProject made (created here, before the test counts calls)."""
    with DokployClient(srv.base_url, api_key) as client:
        project, _ = find_or_create_project(client, "bizosaas-test")
        environment, _ = find_or_create_environment(client, project, "production")
    settle(srv)
    srv.reset_calls()
    return {
        "dokploy_url": srv.base_url,
        "api_key": api_key,
        "project_name": "bizosaas-test",
        "environment_name": "production",
        "project_id": project["projectId"],
        "environment_id": environment["environmentId"],
        "compose_name": "backend",
        "compose_file": compose_yaml(),
        "env": env_text(env_secrets),
        "services": {
            "web": {"image": f"127.0.0.1:5000/bizosaas/web@{DIGEST_A}", "ports": ["8001:8001"], "env_keys": ["DATABASE_URL"], "health": ""},
            "worker": {"image": f"127.0.0.1:5000/bizosaas/worker@{DIGEST_A}", "ports": [], "env_keys": [], "health": ""},
        },
        "health_urls": {},
        "compose_type": "docker-compose",
        "deploy_timeout": 10.0,
        "poll_interval": 0.05,
        "health_timeout": 2.0,
        "stability_window": 0.2,
        "rollback_on_failure": False,
        "allow_insecure_http": False,
        "delete_volumes": False,
    }


def settle(srv: FakeDokploy) -> list[tuple[str, str, int]]:
    """The server records a call just after answering it: wait until the record is complete."""
    last = -1
    while last != len(srv.calls):
        last = len(srv.calls)
        time.sleep(0.05)
    return list(srv.calls)


def counts(srv: FakeDokploy) -> dict[str, int]:
    calls = settle(srv)
    return {
        "reads": sum(1 for m, _, _ in calls if m == "GET"),
        "writes": sum(1 for m, _, _ in calls if m == "POST"),
    }


def procs(srv: FakeDokploy, method: str | None = None) -> list[str]:
    return [p for m, p, _ in settle(srv) if method is None or m == method]


def eventually_count(srv: FakeDokploy, procedure: str, expected: int, timeout: float = 5.0) -> bool:
    """A delayed call is recorded only once its answer is sent: wait for it, then check the exact count."""
    deadline = time.monotonic() + timeout
    while procs(srv).count(procedure) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return procs(srv).count(procedure) == expected


def composes(srv: FakeDokploy) -> list[dict[str, Any]]:
    with srv.state.lock:
        return [dict(c) for c in srv.state.composes.values()]


def deployments(srv: FakeDokploy) -> list[dict[str, Any]]:
    with srv.state.lock:
        return [dict(d) for d in srv.state.deployments.values()]


def assert_clean(text: str, api_key: str, env_secrets: dict[str, str]) -> None:
    assert api_key not in text
    for value in env_secrets.values():
        assert value not in text


def configured(provider: ComposeProjectProvider | RegistryProvider, api_key: str) -> Any:
    provider.configure(ConfigureRequest(Config({"bizosaas-deploy:dokployApiKey": api_key}, "bizosaas-deploy")))
    return provider


@pytest.fixture
def registry_props(srv: FakeDokploy, api_key: str) -> dict[str, Any]:
    return {
        "dokploy_url": srv.base_url,
        "api_key": api_key,
        "registry_name": "ghcr",
        "registry_url": "ghcr.io",
        "username": "bizoholic-digital",
        "password": "ghp_" + secrets.token_hex(16),
        "allow_insecure_http": False,
    }


@pytest.fixture
def warnings_shown(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Any:
    """What providers warned (``engine_warning`` -> ``pulumi.log.warn``): on stderr in the dynamic-provider host, through
    Python logging when an earlier test of the process left pulumi's mocks set; the text of both, read once."""
    caplog.set_level("WARNING")

    def read() -> str:
        return capsys.readouterr().err + caplog.text

    return read
