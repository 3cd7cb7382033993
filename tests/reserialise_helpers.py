"""The real pieces behind Dokploy's re-serialisation, for the tests: npm yaml 2.8.1 (node) and docker compose's loader.

``dokploy_js`` (a fixture) makes sure the package is installed (scripts/install-dokploy-js.sh), skipping with the reason
when node is missing (a failure under CI). ``arrival`` runs texts the way a Dokploy deploy does (``stringify(parse(text))``)
into ``docker compose config`` and says what each value became.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from core import reserialise
from testkit.dokploy import yamljs

ROOT = Path(__file__).resolve().parent.parent
REFUSED_FILE = "<docker compose refuses the file>"


@pytest.fixture(scope="module")
def dokploy_js() -> None:
    """npm yaml 2.8.1 runnable here (installed into .tools/dokploy-js by scripts/install-dokploy-js.sh)."""
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI with the compose plugin is needed (scripts/setup.sh installs it)")
    if shutil.which("node") and shutil.which("npm") and not yamljs.available():
        subprocess.run(["bash", str(ROOT / "scripts" / "install-dokploy-js.sh")], check=True, capture_output=True, timeout=300)
    reason = yamljs.not_available_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"npm yaml {yamljs.VERSION} is needed to check what Dokploy's re-serialisation does: {reason}")
        pytest.skip(f"npm yaml {yamljs.VERSION} cannot run here ({reason}): Dokploy's re-serialisation is not checked")


def compose_config(text: str, interpolate: bool = False) -> dict[str, Any] | None:
    """``docker compose config --format json`` of one file (None when docker compose refuses it)."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "docker-compose.yml").write_text(text, encoding="utf-8")
        args = ["docker", "compose", "-p", "x", "-f", "docker-compose.yml", "config", "--format", "json"]
        done = subprocess.run(args if interpolate else [*args, "--no-interpolate"], cwd=tmp, capture_output=True, text=True,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp})  # fmt: skip
    return json.loads(done.stdout) if done.returncode == 0 else None


def through_dokploy(text: str) -> str:
    """The file a Dokploy deploy writes for a compose file without domains."""
    return yamljs.roundtrip(text)


def env_document(values: list[str]) -> dict[str, Any]:
    """One service whose env and labels hold the values (V0, V1, ...; l0, l1, ...), as core.compose renders mappings."""
    return {"services": {"s": {"image": "busybox", "environment": {f"V{i}": v for i, v in enumerate(values)},
                               "labels": {f"l{i}": v for i, v in enumerate(values)}}}}  # fmt: skip


def arrival(values: list[str], write: Callable[[Any], str] = reserialise.dump) -> list[Any]:
    """What docker compose reads for each value (env and label the same, else both) after Dokploy's round trip of the
    text ``write`` makes, or REFUSED_FILE. Values ``core.reserialise`` says stop the file each get a file of their own;
    the rest go together (split in halves only when a file is refused after all, to name the value)."""

    def run(batch: list[str]) -> list[Any]:
        service = (compose_config(through_dokploy(write(env_document(batch)))) or {}).get("services", {}).get("s")
        if service is None:
            if len(batch) == 1:
                return [REFUSED_FILE]
            half = len(batch) // 2
            return run(batch[:half]) + run(batch[half:])
        out: list[Any] = []
        for i in range(len(batch)):
            env, label = service.get("environment", {}).get(f"V{i}"), service.get("labels", {}).get(f"l{i}")
            out.append(env if env == label else (env, label))
        return out

    stops = [i for i, v in enumerate(values) if _stops_the_file(v)]
    rest = [i for i in range(len(values)) if i not in set(stops)]
    batches = [[i] for i in stops] + [rest[k : k + 400] for k in range(0, len(rest), 400)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda idx: run([values[i] for i in idx]), batches))
    got: dict[int, Any] = {}
    for idx, result in zip(batches, results, strict=True):
        got.update(zip(idx, result, strict=True))
    return [got[i] for i in range(len(values))]


def _stops_the_file(value: str) -> bool:
    why = reserialise.problem(value) or ""
    return any(word in why for word in ("refuses", "stops the deploy", "line break"))
