"""The README's day-two lines, extracted from README.md (the block marked ``<!-- readme-test: daytwo -->``, the same extraction as
the staging block) and run verbatim, in order: `make demo`, `deployctl status`, `deployctl logs` for one service, `make down`,
`make down` again, `make demo` again. Then, on the stack that demo made: a stopped stand-in is named with the command that starts
it, and `deployctl status` shows the drift after someone changed a compose file in Dokploy (and redeployed it).

This machine is shared, and the demo uses fixed names (stack `local`, the stand-in on 127.0.0.1:3999, container suffix `local`,
the catalog's host ports). So the lines run in a copy of the project with its own `.state` (state backend, passphrase, the
stand-in's key, state and pid file) and its own `stacks/local.yaml`, the template `make demo` makes the `local` stack from: the
stand-in on a free port, this run's container suffix, host ports, registry repository and Dokploy project, and two services (one
per compose project) instead of 14, so that two demos take minutes. Nothing of a demo someone else runs is touched; whatever
this run made is removed at the end (a last `make down`, then its containers by name).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from dokploy_api import DokployClient
from dokploy_api.deploy import deploy_and_wait
from dokploy_api.lookup import find_compose, find_environment, find_project
from testkit import images
from testkit.dokploy import launch
from tests.engine.test_readme import readme_block
from tests.engine_helpers import NS, ROOT, free_ports, registry_digest

pytestmark = pytest.mark.engine
ENABLED = ("brain-api", "thrillring-gaming")  # one per compose project; the frontend links only to brain-api
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())


class Copy:
    """The project as a user has it after `git clone` + `make demo` once (venv and the built engine linked), with this run's template."""

    def __init__(self, tmp: Path) -> None:
        self.run = secrets.token_hex(3)
        self.suffix = f"d2{self.run}"
        self.dir = tmp / "bizosaas-deploy"
        tracked = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        for rel in tracked:
            if (ROOT / rel).is_file():
                (self.dir / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, self.dir / rel)
        (self.dir / "venv").symlink_to(ROOT / "venv")
        (self.dir / ".tools").symlink_to(ROOT / ".tools")  # the cached Pulumi engine build
        port, *published, self.traefik_web, websecure, api = free_ports(4 + len(ENABLED))
        self.url = f"http://127.0.0.1:{port}"
        self.project = f"bizosaas-{self.suffix}"
        self.registry = f"127.0.0.1:5000/daytwo-{self.run}"
        template = yaml.safe_load((ROOT / "stacks" / "local.yaml").read_text())["config"]
        services: dict[str, Any] = {n: {"enabled": False} for n in RAW["services"] if n not in ENABLED}
        services.update({n: {"published": p} for n, p in zip(ENABLED, published, strict=True)})
        mine = {"registry": self.registry, "tag": self.suffix, "containerSuffix": self.suffix, "dokployUrl": self.url,
                "dokployProject": self.project, "services": services,
                # its routes: host names of its own, checked through its own demo Traefik (every Traefik sees every container)
                "domain": f"{self.suffix}.local.bizoholic.test", "traefikUrl": f"http://127.0.0.1:{self.traefik_web}"}
        template.update({f"{NS}:{k}": v for k, v in mine.items()})
        (self.dir / "stacks" / "local.yaml").write_text(
            "# tests/engine/test_daytwo.py: this run's local stack (its own stand-in port, names, ports and registry repository)\n"
            + yaml.safe_dump({"config": template}, sort_keys=False)
        )
        keep = ("PULUMI_", "BIZOSAAS_", "DOKPLOY_", "AWS_")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
        self.env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # a new user's shell: make and deployctl find the rest themselves
        # the demo Traefik of this copy (scripts/start-traefik.sh's settings): never the machine's bizosaas-traefik
        self.env.update({"BIZOSAAS_TRAEFIK_NAME": f"bizosaas-traefik-daytwo-{self.run}", "BIZOSAAS_TRAEFIK_WEB_PORT": str(self.traefik_web),
                         "BIZOSAAS_TRAEFIK_WEBSECURE_PORT": str(websecure), "BIZOSAAS_TRAEFIK_API_PORT": str(api)})

    def sh(self, line: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", line], cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def ok(self, line: str) -> str:
        started = time.monotonic()
        done = self.sh(line)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{line} failed ({done.returncode}):\n{output[-4000:]}"
        print(f"\n$ {line}   [{time.monotonic() - started:.1f}s]\n{output[-2500:]}")
        return output

    def containers(self) -> list[str]:
        out = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"name=-{self.suffix}"],
                             capture_output=True, text=True, check=True).stdout
        return sorted(out.split())

    def client(self) -> DokployClient:
        return DokployClient(self.url, (self.dir / ".state" / "dokploy-api-key").read_text().strip(), allow_insecure_http=True)

    def close(self) -> None:
        self.sh("make down", timeout=600)  # what the README says; then whatever a failed run may have left
        launch.stop(self.dir / ".state" / "dokploy")
        images.remove_containers(self.suffix)
        tagged = subprocess.run(["docker", "images", "-q", "--filter", f"reference={self.registry}/*"], capture_output=True, text=True,
                                check=False).stdout.split()
        if tagged:
            subprocess.run(["docker", "rmi", "-f", *sorted(set(tagged))], capture_output=True, check=False)


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Copy]:
    c = Copy(tmp_path_factory.mktemp("daytwo"))
    try:
        yield c
    finally:
        c.close()


def command(line: str) -> str:
    """A README line without its comment."""
    return line.split(" #", 1)[0].rstrip()


def containers_named(copy: Copy) -> list[str]:
    return sorted(f"{RAW['services'][n]['container_name']}-{copy.suffix}" for n in ENABLED)


def test_the_readme_day_two_lines_run_verbatim(copy: Copy) -> None:
    lines = readme_block("daytwo")
    demo, status, logs, down, down_again, demo_again = lines
    assert [command(line) for line in (demo, down, down_again, demo_again)] == ["make demo", "make down", "make down", "make demo"]
    assert command(status) == "venv/bin/python -m deployctl status --stack local" and " logs --stack local brain-api" in logs

    out = copy.ok(demo)
    assert f"Dokploy-compatible stand-in listening on {copy.url}" in out and re.search(r"release r-[0-9a-f]{12} verified=True", out)
    assert copy.containers() == containers_named(copy)

    out = copy.ok(status)  # per service: compose project, digest, release, health, restarts, up since, replicas, routes, match
    release = re.search(r"runs its last verified release (r-[0-9a-f]{12})", out)
    assert release and "no drift" in out, out
    for name in ENABLED:
        [row] = [line for line in out.splitlines() if line.startswith(f"{name} ")]
        cells = row.split()
        assert cells[1] in ("backend", "frontend") and cells[3] == release.group(1) and cells[4] == "healthy" and cells[-1] == "yes", row
    assert re.search(r"compose projects: backend \([\w-]+, compose mode\), frontend \([\w-]+, compose mode\)", out)

    out = copy.ok(logs)  # brain-api's log through Dokploy's API: Docker's timestamps, what the service printed
    assert re.search(r"^\d{4}-\d\d-\d\dT[\d:.]+Z listening on port 8001$", out, re.MULTILINE), out

    out = copy.ok(down)
    destroyed = (r"^down: destroyed stack local: \d+ resources \(compose project backend \([\w-]+\), compose project "
                 rf"frontend \([\w-]+\), Dokploy project {copy.project}\); removed the stack and Pulumi.local.yaml$")
    assert re.search(destroyed, out, re.MULTILINE), out
    assert re.search(rf"^down: stopped the Dokploy stand-in on {re.escape(copy.url)} \(pid \d+\)$", out, re.MULTILINE), out
    assert "down: removed the stand-in's state (.state/dokploy)" in out
    assert f"down: removed the demo Traefik (bizosaas-traefik-daytwo-{copy.run})" in out, out
    assert copy.containers() == [] and not launch.answers(copy.url) and not (copy.dir / "Pulumi.local.yaml").exists()
    stacks = copy.dir / ".state" / "backend" / ".pulumi" / "stacks" / "bizosaas-deploy"
    assert not (stacks / "local.json").exists() and not (stacks / "local.json.gz").exists()  # the stack is gone from the backend

    out = copy.ok(down_again)
    assert out.strip() == "down: nothing to remove: no local stack, no Dokploy stand-in started here, nothing of the demo left", out

    out = copy.ok(demo_again)  # from scratch: a new stand-in, a new stack, everything created again
    assert f"Dokploy-compatible stand-in listening on {copy.url}" in out and "changed: {'create': " in out, out[-3000:]
    assert copy.containers() == containers_named(copy)


def test_a_stopped_standin_is_named_with_the_command_that_starts_it(copy: Copy) -> None:
    status = readme_block("daytwo")[1]
    assert launch.stop(copy.dir / ".state" / "dokploy") is not None
    done = copy.sh(status)
    hint = "start the Dokploy stand-in of this local stack with `venv/bin/python -m deployctl standin --stack local`"
    assert done.returncode == 1 and done.stderr.strip() == (
        f"deployctl: stack local: Dokploy at {copy.url} does not answer (could not connect): {hint} (make demo starts it too)"
    ), done.stdout + done.stderr
    copy.ok("venv/bin/python -m deployctl standin --stack local")  # the command, as the message gives it
    assert "no drift" in copy.ok(status)


def test_status_shows_the_drift_when_someone_changed_a_compose_file_in_dokploy(copy: Copy) -> None:
    """Someone points brain-api at another image in Dokploy's compose editor and redeploys: status says what differs from the
    last verified release, plainly, and exits 3; --json says the same to a script."""
    status = readme_block("daytwo")[1]
    spec = RAW["services"]["brain-api"]
    repo = f"{copy.registry}/brain-api"
    images.build_image(f"{repo}:drift", "brain-api", int(spec["port"]), spec["health"], variant=f"{copy.run}-drift")
    subprocess.run(["docker", "push", f"{repo}:drift"], check=True, capture_output=True)
    other = registry_digest(repo, "drift")
    with copy.client() as client:
        project = find_project(client, copy.project)
        assert project is not None
        env = find_environment(client, project, "production")
        assert env is not None
        row = find_compose(client, str(env["environmentId"]), "backend")
        assert row is not None
        live = client.compose.one(row["composeId"])
        was = re.search(rf"{re.escape(repo)}@(sha256:[0-9a-f]{{64}})", live["composeFile"])
        assert was, live["composeFile"]
        client.compose.update(row["composeId"], composeFile=live["composeFile"].replace(was.group(1), other))
        assert deploy_and_wait(client, row["composeId"], redeploy=True, timeout=300, poll_interval=1)["status"] == "done"
    done = copy.sh(status)
    out = done.stdout + done.stderr
    print(f"\n$ {status}\n{out}")
    assert done.returncode == 3, out
    assert f"compose project backend ({live['appName']}): its compose file in Dokploy differs from release r-" in out
    assert f"  - brain-api: expected only {repo}@{was.group(1)} running; saw bizosaas-brain-{copy.suffix} still runs {repo}@{other}" in out
    [row_line] = [line for line in out.splitlines() if line.startswith("brain-api ")]
    assert other.removeprefix("sha256:")[:12] in row_line and "none of this stack" in row_line and row_line.endswith("NO")
    [thrill] = [line for line in out.splitlines() if line.startswith("thrillring-gaming ")]
    assert thrill.endswith("yes")  # the other compose project was not touched
    doc = json.loads(copy.sh(f"{command(status)} --json").stdout)
    assert doc["matches"] is False
    assert {s["service"]: s["matches"] for s in doc["services"]} == {"brain-api": False, "thrillring-gaming": True}
    assert requests.get(f"{copy.url}/api/health", timeout=5).ok  # status read it all through the stand-in's API, which still runs
