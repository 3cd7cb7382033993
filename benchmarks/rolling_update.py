"""Benchmark scenario: a start-first rolling update of one stack-mode service under load, and how many requests failed.

One stack of its own against its own Dokploy stand-in (Dokploy's measured latency, deploying with the real
engine on its single-node Swarm): backend in stack mode with brain-api alone (2 replicas, not published, dnsrr,
the catalog's ``update_config``: one task at a time, start-first, rollback on failure), the frontend in compose
mode (admin-dashboard; the catalog needs one service per compose project). After a first deploy (not measured),
a client container on dokploy-network runs a bounded request loop against brain-api by its name
(``http://bizosaas-brain-<stack>:8001/health``: what another service calls) while `pulumi up` rolls out a new
brain-api image; the loop stops a few seconds after the `up` returned. This machine has no IPVS, so the
loop cannot go through a host port or a VIP: host-mode ports cannot do start-first on one node, and dnsrr is
what answers here.

    venv/bin/python -m benchmarks.rolling_update     (needs `bash scripts/swarm.sh up`; also run by benchmarks.bench)

Prints the requests made, the failed ones (goal: 0 for start-first), when they failed relative to the `up`,
and the `up`'s wall time.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from deployctl import engine, local_stack
from deployctl.operations import up
from testkit import images
from testkit.dokploy import FakeDokploy

ROOT = engine.PROJECT_DIR
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
NS = "bizosaas-deploy"
LOOP_LIMIT = 600
"""Seconds after which the request loop stops by itself (bounded even if this process dies)."""
LOOP = r"""
trap 'exit 0' TERM; mkdir -p /tmp
ok=0; fail=0; new=0; end=$(( $(date +%s) + {limit} ))
while [ ! -f /tmp/stop ] && [ $(date +%s) -lt $end ]; do
  if body=$(timeout 2 wget -q -O - {url}); then
    ok=$((ok+1)); case "$body" in *{new}*) new=$((new+1)) ;; esac
  else fail=$((fail+1)); echo "failed at $(date +%s.%N)"; fi
done
echo "requests=$((ok+fail)) ok=$ok failed=$fail new=$new"
sleep {limit}
"""


@dataclass
class Result:
    requests: int
    failed: int
    up_seconds: float
    loop_seconds: float
    failed_at: list[float]
    replicas: int
    order: str
    answered_by_new: int
    """Requests the new image answered: the loop saw the switch (the rest were answered by the old one)."""


def swarm_ready() -> bool:
    state = subprocess.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return state == "active true"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sh(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed: {done.stderr.strip()[-400:]}")
    return done.stdout.strip()


def run(tmp: Path | None = None) -> Result:
    """Deploy, start the loop, roll out a new brain-api image, stop the loop; always cleans up."""
    os.environ.setdefault("BIZOSAAS_STANDINS", "1")
    tmp = tmp or Path(tempfile.mkdtemp(prefix="bizosaas-rolling-"))
    saved = os.environ.get("PULUMI_BACKEND_URL")
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    rid, key = secrets.token_hex(3), secrets.token_hex(16)
    stack = f"roll{rid}"
    srv = FakeDokploy(api_keys={key}, docker=True, work_dir=tmp / "dokploy", latency="dokploy")
    srv.start()
    loader = f"rolling-{rid}-load"
    built: list[str] = []

    def build(service: str, variant: str) -> str:
        spec = RAW["services"][service]
        tag = f"rolling-{rid}/{service}:{variant}"
        images.build_image(tag, service, int(spec["port"]), spec["health"], variant=f"{rid}-{variant}")
        built.append(tag)
        return tag

    try:
        services: dict[str, Any] = {n: {"enabled": False} for n in RAW["services"] if n not in ("brain-api", "admin-dashboard")}
        services["brain-api"] = {"published": False, "local_image": build("brain-api", "v1")}
        services["admin-dashboard"] = {"published": _free_port(), "local_image": build("admin-dashboard", "v1")}
        template = yaml.safe_load((ROOT / "stacks" / "local.yaml").read_text())["config"]
        template.pop(f"{NS}:healthUrl", None)
        config = {
            **template,
            f"{NS}:registry": f"127.0.0.1:5000/rolling-{rid}",
            f"{NS}:tag": stack,
            f"{NS}:containerSuffix": stack,
            f"{NS}:dokployUrl": srv.base_url,
            f"{NS}:dokployProject": f"bizosaas-{stack}",
            f"{NS}:services": services,
            f"{NS}:routes": {"enabled": False},  # the client on dokploy-network measures the update, not a route
            f"{NS}:composeProjects": {"backend": {"mode": "stack", "ports": "host", "endpointMode": "dnsrr"}},
            f"{NS}:healthTimeout": 180,
            f"{NS}:stabilityWindow": 5,
            f"{NS}:testGate": False,
        }
        template_file = tmp / "stack.yaml"
        template_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        st = local_stack.init_from(stack, template_file)
        st.set_config(f"{NS}:dokployApiKey", auto.ConfigValue(key, secret=True))
        print(f"[rolling] first deploy of {stack} (not measured)", flush=True)
        up(stack, quiet=True)
        deploy = yaml.safe_load(engine.stack(stack).outputs()["compose"].value["backend"])["services"]["brain-api"]["deploy"]

        url = f"http://bizosaas-brain-{stack}:8001/health"
        script = LOOP.format(limit=LOOP_LIMIT, url=url, new=f"{rid}-v2")
        _sh("docker", "run", "-d", "--name", loader, "--network", "dokploy-network", "--entrypoint", "/bin/sh", built[0], "-c", script)
        time.sleep(2)  # the loop runs before the update starts
        path = ROOT / f"Pulumi.{stack}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["config"][f"{NS}:services"]["brain-api"]["local_image"] = build("brain-api", "v2")
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        print("[rolling] pulumi up: brain-api v2, start-first, under load", flush=True)
        loop_started = time.time() - 2
        started = time.monotonic()
        result, _ = up(stack, quiet=True)
        up_seconds = time.monotonic() - started
        up_started = time.time() - up_seconds
        if not result.outputs["verified"].value:
            raise RuntimeError("the rolling update was not verified")
        time.sleep(3)
        _sh("docker", "exec", loader, "touch", "/tmp/stop")
        deadline = time.monotonic() + 15
        logs = ""
        while time.monotonic() < deadline and "requests=" not in logs:
            time.sleep(0.5)
            logs = subprocess.run(["docker", "logs", loader], capture_output=True, text=True, check=False).stdout
        m = re.search(r"requests=(\d+) ok=(\d+) failed=(\d+) new=(\d+)", logs)
        if not m:
            raise RuntimeError(f"the request loop did not report: {logs[-400:]}")
        failed_at = [float(x) - up_started for x in re.findall(r"failed at (\d+\.\d+)", logs)]
        return Result(int(m.group(1)), int(m.group(3)), up_seconds, time.time() - loop_started, failed_at,
                      int(deploy["replicas"]), str(deploy["update_config"]["order"]), int(m.group(4)))
    finally:
        subprocess.run(["docker", "rm", "-f", loader], capture_output=True, check=False)
        try:
            engine.stack(stack).destroy(color="never")
        except auto.errors.CommandError as exc:
            print(f"[rolling] destroy {stack}: {str(exc)[-300:]}")
        (ROOT / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)
        apps = [c["appName"] for c in srv.state.composes.values()]
        srv.stop()
        for app in apps:  # whatever a failed run left behind
            subprocess.run(["docker", "stack", "rm", app], capture_output=True, check=False)
        subprocess.run(["docker", "rmi", "-f", *built], capture_output=True, check=False)
        if saved is None:
            os.environ.pop("PULUMI_BACKEND_URL", None)
        else:
            os.environ["PULUMI_BACKEND_URL"] = saved


def report(r: Result) -> str:
    when = ", ".join(f"{t:+.1f}s" for t in r.failed_at[:10]) or "none"
    return (
        f"rolling update of brain-api ({r.replicas} replicas, {r.order}, stack mode, dnsrr) under load: "
        f"{r.requests} requests in {r.loop_seconds:.1f}s ({r.requests - r.failed - r.answered_by_new} answered by the old image, "
        f"{r.answered_by_new} by the new one), {r.failed} failed ({r.failed / max(r.requests, 1):.2%}); "
        f"failures at (from the up's start): {when}; the up took {r.up_seconds:.1f}s"
    )


def main() -> int:
    if not swarm_ready():
        print("[rolling] skipped: this engine is no Swarm manager (bash scripts/swarm.sh up)")
        return 0
    print(report(run()))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
