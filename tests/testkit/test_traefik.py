"""A real Traefik (testkit/traefik.py, configured the Dokploy way) routes what Dokploy v0.30.2 labels.

The labels are the ones Dokploy writes when it deploys a compose with domains (`addDomainToCompose` and
`createDomainLabels` in packages/server/src/utils/docker/domain.ts): compose mode on the service,
`traefik.docker.network=dokploy-network` and the service on `dokploy-network`; stack mode under
`deploy.labels` with `traefik.swarm.network=dokploy-network`. The backends run with the real Docker
Engine (`docker compose up`, `docker stack deploy` on the single-node Swarm), one Traefik for the module.
"""

from __future__ import annotations

import os
import secrets
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testkit import images
from testkit import traefik as traefik_kit
from testkit.ports import free_ports
from testkit.traefik import Traefik

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "127.0.0.1:5000"
PORT = 8080  # the backends' container port (a Dokploy domain's `port`)
RUN = secrets.token_hex(3)


def sh(*args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=180, check=False)
    if check:
        assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout.strip()


def dokploy_labels(app: str, key: int, host: str, path: str = "/", https: bool = False) -> list[str]:
    """What Dokploy v0.30.2 writes for one domain (certificateType none, no stripPath, no internalPath).

    Per entrypoint (web; web and websecure when https) a router `<appName>-<uniqueConfigKey>-<entrypoint>`
    with its own service of the same name; the web router of an https domain only redirects
    (redirect-to-https@file); the websecure one has tls=true (Traefik's default certificate).
    """
    rule = f"Host(`{host}`)" + (f" && PathPrefix(`{path}`)" if path != "/" else "")
    labels: list[str] = []
    for entrypoint in ["web", "websecure"] if https else ["web"]:
        router = f"{app}-{key}-{entrypoint}"
        labels += [
            f"traefik.http.routers.{router}.rule={rule}",
            f"traefik.http.routers.{router}.entrypoints={entrypoint}",
            f"traefik.http.services.{router}.loadbalancer.server.port={PORT}",
            f"traefik.http.routers.{router}.service={router}",
        ]
        if https and entrypoint == "web":
            labels.append(f"traefik.http.routers.{router}.middlewares=redirect-to-https@file")
        if entrypoint == "websecure":
            labels.append(f"traefik.http.routers.{router}.tls=true")
    return labels


def backend(image: str, name: str, labels: list[str]) -> dict[str, object]:
    """A busybox httpd on PORT answering `name` at / and JSON at /api/health."""
    return {
        "image": image,
        "command": ["/bin/sh", "-c", f"echo {name} > /www/index.html; trap 'exit 0' TERM; httpd -f -p {PORT} -h /www & wait"],
        "labels": labels,
        "networks": ["dokploy-network", "default"],
    }


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """The backend image, pushed to the local registry and referenced by digest (what a deploy runs)."""
    tag = f"{REGISTRY}/bizosaas-traefik-test/backend:{RUN}"
    images.build_image(tag, "traefik-backend", PORT, "/api/health")
    sh("docker", "push", "-q", tag)
    digest = sh("docker", "image", "inspect", "-f", "{{index .RepoDigests 0}}", tag)
    yield digest
    sh("docker", "image", "rm", tag, check=False)


@pytest.fixture(scope="module")
def compose_app(image: str) -> Iterator[str]:
    """One compose-mode project with Dokploy's domain labels: three services on dokploy-network.

    `web` (host A, one https domain B), `api` (host C, path /api), `hidden` (router labels but no
    traefik.enable: exposedByDefault is off, so Traefik ignores it).
    """
    app = f"traefik-test-{RUN}"
    web = [
        "traefik.docker.network=dokploy-network",
        *dokploy_labels(app, 1, f"a-{RUN}.traefik.test"),
        *dokploy_labels(app, 2, f"b-{RUN}.traefik.test", https=True),
        "traefik.enable=true",
    ]
    api = ["traefik.docker.network=dokploy-network", *dokploy_labels(app, 3, f"c-{RUN}.traefik.test", path="/api"), "traefik.enable=true"]
    hidden = ["traefik.docker.network=dokploy-network", *dokploy_labels(app, 4, f"d-{RUN}.traefik.test")]
    compose = {
        "services": {"web": backend(image, "web", web), "api": backend(image, "api", api), "hidden": backend(image, "hidden", hidden)},
        "networks": {"dokploy-network": {"external": True}},
    }
    sh("docker", "compose", "-p", app, "-f", "-", "up", "-d", "--quiet-pull", stdin=yaml.safe_dump(compose))
    yield app
    sh("docker", "compose", "-p", app, "down", "--remove-orphans", "--timeout", "2", check=False)


def test_a_compose_service_answers_by_its_host_name(traefik: Traefik, compose_app: str) -> None:
    resp = traefik.wait_route(f"a-{RUN}.traefik.test")
    assert resp.text == "web\n"
    assert f"{compose_app}-1-web@docker" in traefik.routers()


def test_an_unknown_host_gets_traefiks_404(traefik: Traefik, compose_app: str) -> None:
    traefik.wait_route(f"a-{RUN}.traefik.test")  # routes are loaded: the 404 below is not a race
    resp = traefik.get(f"nobody-{RUN}.traefik.test")
    assert (resp.status_code, resp.text) == (404, traefik_kit.NOT_FOUND)


def test_a_service_without_traefik_enable_is_not_routed(traefik: Traefik, compose_app: str) -> None:
    traefik.wait_route(f"a-{RUN}.traefik.test")
    resp = traefik.get(f"d-{RUN}.traefik.test")
    assert (resp.status_code, resp.text) == (404, traefik_kit.NOT_FOUND)
    assert not any(f"{compose_app}-4-" in name for name in traefik.routers())


def test_a_path_prefix_route_answers_under_its_path_only(traefik: Traefik, compose_app: str) -> None:
    resp = traefik.wait_route(f"c-{RUN}.traefik.test", "/api/health")
    assert resp.json()["service"] == "traefik-backend"
    outside = traefik.get(f"c-{RUN}.traefik.test", "/")
    assert (outside.status_code, outside.text) == (404, traefik_kit.NOT_FOUND)


def test_an_https_domain_answers_on_websecure_and_web_redirects(traefik: Traefik, compose_app: str) -> None:
    host = f"b-{RUN}.traefik.test"
    resp = traefik.wait_route(host, https=True)
    assert resp.text == "web\n"
    redirect = traefik.wait_route(host, "/x?y=1", status=301)  # redirect-to-https@file, permanent: 301 for a GET
    assert redirect.headers["Location"] == f"https://{host}/x?y=1"
    # no certificate resolver (certificateType none): Traefik's self-signed default certificate
    pem = ssl.get_server_certificate(("127.0.0.1", traefik.websecure_port), timeout=5)  # not verified
    assert b"TRAEFIK DEFAULT CERT" in ssl.PEM_cert_to_DER_cert(pem)  # its subject's CN, as DER holds it


def test_a_stack_mode_service_answers_through_the_swarm_provider(traefik: Traefik, image: str) -> None:
    """`docker stack deploy` (Dokploy's stack mode): labels under deploy.labels, traefik.swarm.network.

    endpoint_mode dnsrr, as this Swarm needs (no IPVS: a VIP never answers here). Traefik's Swarm provider
    routes to the tasks' own addresses on dokploy-network whatever the endpoint mode, unless a service sets
    `traefik.swarm.lbswarm=true` (then the VIP; with dnsrr it warns and routes to the tasks anyway).
    Dokploy's labels never set it.
    """
    app = f"traefik-stack-{RUN}"
    host = f"s-{RUN}.traefik.test"
    service = backend(image, "stacked", [])
    del service["labels"]
    service["deploy"] = {
        "replicas": 2,
        "endpoint_mode": "dnsrr",
        "labels": ["traefik.swarm.network=dokploy-network", *dokploy_labels(app, 1, host), "traefik.enable=true"],
    }
    stack = {"services": {"web": service}, "networks": {"dokploy-network": {"external": True}}}
    compose_file = ROOT / ".state" / f"traefik-stack-{RUN}.yml"
    compose_file.parent.mkdir(exist_ok=True)
    compose_file.write_text(yaml.safe_dump(stack))
    try:
        sh("docker", "stack", "deploy", "-c", str(compose_file), "--prune", "--with-registry-auth", app)
        resp = traefik.wait_route(host, timeout=90)  # the Swarm provider polls every 15 s (refreshSeconds)
        assert resp.text == "stacked\n"
        # both replicas are servers of the route: Traefik balances over the task addresses
        deadline = time.monotonic() + 60
        servers: list[str] = []
        while time.monotonic() < deadline and len(servers) < 2:
            servers = traefik.servers(f"{app}-1-web@swarm")
            time.sleep(1)
        assert len(servers) == 2, servers
        tasks = sh("docker", "service", "ps", "-q", "--filter", "desired-state=running", f"{app}_web").split()
        addresses = {
            sh("docker", "inspect", "-f", "{{range .NetworksAttachments}}{{if eq .Network.Spec.Name \"dokploy-network\"}}"
               "{{range .Addresses}}{{.}}{{end}}{{end}}{{end}}", task).split("/")[0]
            for task in tasks
        }  # fmt: skip
        assert {s.removeprefix("http://").rsplit(":", 1)[0] for s in servers} == addresses
    finally:
        sh("docker", "stack", "rm", app, check=False)
        compose_file.unlink(missing_ok=True)
        deadline = time.monotonic() + 60  # stack rm returns before Swarm removed the tasks' containers
        while sh("docker", "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={app}") and time.monotonic() < deadline:
            time.sleep(0.5)


def test_the_demo_instance_is_started_once_and_stopped_by_its_scripts(traefik: Traefik) -> None:
    """scripts/start-traefik.sh is idempotent (a second run says so) and stop-traefik.sh removes it (not the module's)."""
    ports = free_ports(3)
    name = f"bizosaas-traefik-demo-test-{RUN}"
    env = {
        "BIZOSAAS_TRAEFIK_NAME": name,
        "BIZOSAAS_TRAEFIK_WEB_PORT": str(ports[0]),
        "BIZOSAAS_TRAEFIK_WEBSECURE_PORT": str(ports[1]),
        "BIZOSAAS_TRAEFIK_API_PORT": str(ports[2]),
    }
    run_env = {**os.environ, **env}

    def script(which: str) -> str:
        cmd = ["bash", str(ROOT / "scripts" / which)]
        done = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    try:
        first = script("start-traefik.sh")
        assert f"web http://127.0.0.1:{ports[0]}" in first and "already running" not in first
        again = script("start-traefik.sh")
        assert "(already running)" in again
        running = traefik_kit.find(name)
        assert running is not None and running.get(f"nobody-{RUN}.traefik.test").status_code == 404
        assert f"removed {name}" in script("stop-traefik.sh")
        assert traefik_kit.find(name) is None
        assert "is not running" in script("stop-traefik.sh")
        assert traefik_kit.find(traefik.name) == traefik  # another Traefik of ours is left alone
    finally:
        traefik_kit.remove(name)
