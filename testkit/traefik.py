"""A real Traefik v3 (not a stand-in) for the tests and the demo, configured the way Dokploy configures its own.

`scripts/install-traefik.sh` builds Traefik from the Go module proxy into `.tools/traefik/bin/traefik` and
the image `bizosaas-test/traefik:<version>` (FROM scratch + that binary). `start()` runs it as a
**container** attached to `dokploy-network`, as Dokploy runs `dokploy-traefik` (a process on the host could
not reach the overlay's addresses), with Dokploy's static configuration (`testkit/traefik-config/traefik.yml`:
entrypoints `web` :80 and `websecure` :443, the Docker provider with `exposedByDefault: false` on
`dokploy-network`, the Swarm provider, the file provider holding Dokploy's `redirect-to-https` middleware),
the Docker socket mounted read-only and its entrypoints (and API) published on 127.0.0.1.

Every container it starts carries the label `bizosaas.test=traefik`; `stop()` removes only its own.
Each Traefik sees every labelled container and Swarm service on the engine (other tests' and other
checkouts' too, as a Dokploy host's Traefik does): use host names of your own (a random part).
"""

from __future__ import annotations

import argparse
import re
import secrets
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3

PROJECT_DIR = Path(__file__).resolve().parent.parent
BINARY = PROJECT_DIR / ".tools" / "traefik" / "bin" / "traefik"
INSTALL_SCRIPT = PROJECT_DIR / "scripts" / "install-traefik.sh"
CONFIG_DIR = PROJECT_DIR / "testkit" / "traefik-config"  # traefik.yml + dynamic/ (Dokploy's middlewares.yml)
NETWORK = "dokploy-network"
LABEL = "bizosaas.test=traefik"
NOT_FOUND = "404 page not found\n"  # Traefik's own answer when no router matches (a backend's 404 differs)


def version() -> str:
    """The Traefik version the wrapper module pins (scripts/traefik/go.mod)."""
    text = (PROJECT_DIR / "scripts" / "traefik" / "go.mod").read_text()
    found = re.search(r"^require github\.com/traefik/traefik/v3 v(\S+)", text, re.MULTILINE)
    if not found:
        raise RuntimeError("scripts/traefik/go.mod does not require github.com/traefik/traefik/v3")
    return found.group(1)


IMAGE = f"bizosaas-test/traefik:{version()}"


def installed() -> bool:
    """Whether scripts/install-traefik.sh has built the binary (the image is built from it on demand)."""
    return BINARY.is_file()


def not_installed_reason() -> str:
    return f"Traefik is not installed ({BINARY} is missing): run scripts/install-traefik.sh (~9 min cold on 2 cores, a second when cached)"


def ensure_image() -> None:
    """Build the image from the installed binary when the engine lacks it (install-traefik.sh, cached binary)."""
    if _docker("image", "inspect", IMAGE, check=False).returncode == 0:
        return
    if not installed():
        raise RuntimeError(not_installed_reason())
    done = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"building the image {IMAGE} failed:\n{done.stdout}{done.stderr}")


@dataclass(frozen=True)
class Traefik:
    """One running Traefik container; ports are the host's (127.0.0.1)."""

    name: str
    container_id: str
    web_port: int
    websecure_port: int
    api_port: int
    image: str = ""

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def websecure_url(self) -> str:
        return f"https://127.0.0.1:{self.websecure_port}"

    def get(self, host: str, path: str = "/", https: bool = False, timeout: float = 10.0) -> requests.Response:
        """GET path through the `web` (or `websecure`) entrypoint as `Host: host`; redirects are not followed.

        The websecure certificate is not verified: routers with `tls=true` and no resolver get Traefik's
        self-signed default certificate (what Dokploy's `certificateType: none` gives).
        """
        base = self.websecure_url if https else self.web_url
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            return requests.get(f"{base}{path}", headers={"Host": host}, timeout=timeout, allow_redirects=False, verify=False)

    def wait_route(self, host: str, path: str = "/", https: bool = False, status: int = 200, timeout: float = 45.0) -> requests.Response:
        """Poll until GET host+path answers `status`; Traefik applies new labels asynchronously (the Docker
        provider on the engine's events, the Swarm provider every 15 s). On timeout: what it last answered,
        the routers Traefik knows and its last log lines."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            try:
                resp = self.get(host, path, https=https, timeout=5)
                if resp.status_code == status:
                    return resp
                last = f"HTTP {resp.status_code} {resp.text[:200]!r}"
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        scheme = "https" if https else "http"
        raise TimeoutError(
            f"Traefik {self.name}: {scheme}://{host}{path} did not answer HTTP {status} within {timeout:.0f}s; last: {last}\n"
            f"routers Traefik knows: {', '.join(self.routers()) or 'none'}\nits last log lines:\n{self.logs(20)}"
        )

    def routers(self) -> dict[str, str]:
        """Every HTTP router Traefik has (name -> rule), from its API (`api.insecure`, as Dokploy's)."""
        try:
            listed = requests.get(f"http://127.0.0.1:{self.api_port}/api/http/routers", timeout=5).json()
        except (requests.RequestException, ValueError):
            return {}
        return {r["name"]: r.get("rule", "") for r in listed}

    def servers(self, service: str) -> list[str]:
        """The server URLs Traefik balances one service over (`name@docker`, `name@swarm`); [] when none."""
        try:
            resp = requests.get(f"http://127.0.0.1:{self.api_port}/api/http/services/{service}", timeout=5)
            balancer = resp.json().get("loadBalancer") or {} if resp.status_code == 200 else {}
        except (requests.RequestException, ValueError):
            return []
        return [server["url"] for server in balancer.get("servers") or []]

    def logs(self, tail: int = 50) -> str:
        out = _docker("logs", "--tail", str(tail), self.container_id, check=False)
        return (out.stdout + out.stderr).strip()

    def stop(self) -> None:
        """Remove this container (and only it: by its id, after checking it is one of ours)."""
        labels = _docker("inspect", "-f", '{{index .Config.Labels "bizosaas.test"}}', self.container_id, check=False)
        if labels.returncode == 0 and labels.stdout.strip() == "traefik":
            _docker("rm", "-f", "-v", self.container_id, check=False)


def start(name: str | None = None, web_port: int = 0, websecure_port: int = 0, api_port: int = 0, timeout: float = 30.0) -> Traefik:
    """Start a Traefik container configured the Dokploy way; ports 0 take free ones on 127.0.0.1.

    Returns once its entrypoints answer HTTP. Raises with Traefik's own output when it does not start.
    """
    if not installed():
        raise RuntimeError(not_installed_reason())
    ensure_image()
    if _docker("network", "inspect", NETWORK, check=False).returncode != 0:
        raise RuntimeError(f"the Docker network {NETWORK} is missing: run scripts/swarm.sh up (scripts/setup.sh does)")
    name = name or f"bizosaas-traefik-test-{secrets.token_hex(4)}"
    run = _docker(*run_args(name, web_port, websecure_port, api_port), check=False)
    if run.returncode != 0:
        raise RuntimeError(f"docker run {name} failed: {run.stderr.strip()}")
    container_id = run.stdout.strip()
    try:
        traefik = _instance(name, container_id, IMAGE)
        _wait_answering(traefik, timeout)
    except Exception:
        out = _docker("logs", "--tail", "30", container_id, check=False)
        _docker("rm", "-f", "-v", container_id, check=False)
        raise RuntimeError(f"Traefik {name} did not start; its output:\n{(out.stdout + out.stderr).strip()}") from None
    return traefik


def find(name: str) -> Traefik | None:
    """The running Traefik container of that name, if it is one of ours (label bizosaas.test=traefik)."""
    fmt = '{{.Id}} {{.State.Running}} {{.Config.Image}} {{index .Config.Labels "bizosaas.test"}}'
    out = _docker("inspect", "-f", fmt, name, check=False)
    if out.returncode != 0:
        return None
    container_id, running, image, label = [*out.stdout.split(), "", "", ""][:4]
    if label != "traefik":
        raise RuntimeError(f"a container named {name} exists and is not one of ours (no label {LABEL}): not touching it")
    if running != "true":
        return None
    return _instance(name, container_id, image)


def ensure(name: str, web_port: int, websecure_port: int, api_port: int) -> tuple[Traefik, bool]:
    """The long-lived instance (`make demo`): reuse a running one of this image on these ports, else (re)start it.

    Returns it and whether it was started now. Only a container of ours with that name is ever replaced.
    """
    running = find(name)
    wanted = (IMAGE, web_port, websecure_port, api_port)
    if running and (running.image, running.web_port, running.websecure_port, running.api_port) == wanted:
        return running, False
    remove(name)
    return start(name, web_port, websecure_port, api_port), True


def remove(name: str) -> bool:
    """Remove our Traefik container of that name (running or not); False when there is none."""
    fmt = '{{.Id}} {{index .Config.Labels "bizosaas.test"}}'
    out = _docker("inspect", "-f", fmt, name, check=False)
    if out.returncode != 0:
        return False
    container_id, _, label = out.stdout.strip().partition(" ")
    if label != "traefik":
        raise RuntimeError(f"a container named {name} exists and is not one of ours (no label {LABEL}): not touching it")
    _docker("rm", "-f", "-v", container_id, check=True)
    return True


def run_args(name: str, web_port: int = 0, websecure_port: int = 0, api_port: int = 0) -> list[str]:
    """`docker run` arguments: Dokploy's mounts (read-only here), dokploy-network, entrypoints on loopback."""

    def publish(host_port: int, container_port: int) -> str:
        return f"127.0.0.1:{host_port or ''}:{container_port}"

    return [
        "run", "-d", "--name", name, "--label", LABEL, "--network", NETWORK,
        "-v", f"{CONFIG_DIR / 'traefik.yml'}:/etc/traefik/traefik.yml:ro",
        "-v", f"{CONFIG_DIR / 'dynamic'}:/etc/dokploy/traefik/dynamic:ro",
        "-v", "/var/run/docker.sock:/var/run/docker.sock:ro",
        "-p", publish(web_port, 80), "-p", publish(websecure_port, 443), "-p", publish(api_port, 8080),
        IMAGE,
    ]  # fmt: skip


def _instance(name: str, container_id: str, image: str) -> Traefik:
    """The container with the host ports Docker published its entrypoints (80, 443) and API (8080) on."""

    def published(port: int) -> int:
        out = _docker("port", container_id, f"{port}/tcp", check=True).stdout.split()
        return int(out[0].rsplit(":", 1)[1])

    return Traefik(name, container_id, published(80), published(443), published(8080), image)


def _wait_answering(traefik: Traefik, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = _docker("inspect", "-f", "{{.State.Running}}", traefik.container_id, check=False).stdout.strip()
        if state != "true":
            raise RuntimeError("exited")
        try:
            requests.get(traefik.web_url, timeout=2)
            requests.get(f"http://127.0.0.1:{traefik.api_port}/api/version", timeout=2).raise_for_status()
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _docker(*args: str, check: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def main(argv: list[str] | None = None) -> int:
    """`python -m testkit.traefik start|stop|status --name N [--web-port P ...]` (scripts/start-traefik.sh)."""
    parser = argparse.ArgumentParser(prog="python -m testkit.traefik", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--web-port", type=int, default=0)
    parser.add_argument("--websecure-port", type=int, default=0)
    parser.add_argument("--api-port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        if args.action == "stop":
            print(f"traefik: removed {args.name}" if remove(args.name) else f"traefik: {args.name} is not running")
            return 0
        if args.action == "status":
            found = find(args.name)
            print(describe(found) if found else f"traefik: {args.name} is not running")
            return 0 if found else 1
        if not installed():
            print(f"traefik: {not_installed_reason()}", file=sys.stderr)
            return 1
        traefik, started = ensure(args.name, args.web_port, args.websecure_port, args.api_port)
    except RuntimeError as exc:
        print(f"traefik: {exc}", file=sys.stderr)
        return 1
    print(f"{describe(traefik)}" if started else f"{describe(traefik)} (already running)")
    return 0


def describe(traefik: Traefik) -> str:
    return (
        f"traefik: {traefik.name} ({IMAGE}) on {NETWORK}: web {traefik.web_url}, websecure {traefik.websecure_url},"
        f" API http://127.0.0.1:{traefik.api_port}/api/http/routers"
    )


if __name__ == "__main__":
    sys.exit(main())
