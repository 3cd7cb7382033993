"""The npm ``yaml`` package Dokploy v0.30.2 pins (2.8.1), run by node: how the STAND-IN reads and writes compose files.

Dokploy parses every compose file it deploys and writes it back (``addDomainToCompose`` -> ``parse(text, {maxAliasCount:
10000})``, ``writeDomainsToCompose`` / ``compose.getConvertedCompose`` -> ``stringify(value, {lineWidth: 1000})``), so
the file docker compose reads is yaml 2.8.1's, not ours. ``js/yaml.js`` runs that package; one node process serves the
whole Python process (started at the first use, ended when its stdin closes). The package is installed by
``scripts/setup.sh`` with npm into ``.tools/dokploy-js`` (``js/package.json``); ``BIZOSAAS_DOKPLOY_JS`` names another
``node_modules`` directory. The data crosses over as JSON: an alias's value arrives as a copy, so yaml writes it again
where Dokploy would write an anchor and an alias (the same meaning; the program's compose text has none). Without node
or the package, ``available()`` is False and says why (``not_available_reason``): the stand-in then uses its Python model
(``testkit/dokploy/yamltext.py``).
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "js" / "yaml.js"
VERSION = "2.8.1"
"""The version Dokploy v0.30.2's pnpm-lock.yaml pins (apps/dokploy and packages/server)."""
NUMBER = "$yaml.number"


class YamlJsError(Exception):
    """What yaml's parse or stringify threw (its message, as Dokploy logs it)."""


def modules() -> Path:
    """The ``node_modules`` directory holding the package."""
    return Path(os.environ.get("BIZOSAAS_DOKPLOY_JS") or ROOT / ".tools" / "dokploy-js" / "node_modules")


def not_available_reason() -> str:
    """Why the real package cannot be run here ("" when it can)."""
    if shutil.which("node") is None:
        return "node is not installed"
    manifest = modules() / "yaml" / "package.json"
    if not manifest.is_file():
        return f"npm yaml is not installed in {modules()} (scripts/setup.sh installs it)"
    version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    if version != VERSION:
        return f"npm yaml {version} is installed in {modules()}, Dokploy v0.30.2 pins {VERSION} (scripts/setup.sh installs it)"
    return ""


def available() -> bool:
    return not not_available_reason()


def _encode(value: Any) -> Any:
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value) or (value == 0 and math.copysign(1, value) < 0)):
        return {NUMBER: "NaN" if math.isnan(value) else "-0" if value == 0 else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and NUMBER in obj:
        return float(obj[NUMBER])
    return obj


class _Node:
    """One ``node js/yaml.js`` process, one request at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        line = json.dumps(_encode(request)).encode() + b"\n"
        with self.lock:
            for attempt in (1, 2):  # a process that died (killed by a test's clean-up, ...) is started again once
                proc = self._process()
                try:
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(line)
                    proc.stdin.flush()
                    answer = proc.stdout.readline()
                except (BrokenPipeError, OSError):
                    answer = b""
                if answer:
                    return json.loads(answer, object_hook=_decode)  # type: ignore[no-any-return]
                self.proc = None
                if attempt == 2:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    raise RuntimeError(f"node {SCRIPT.name} ended without an answer: {err[-500:]}")
        raise AssertionError("unreachable")

    def close(self) -> None:
        """End the process (its stdin closed: it exits by itself), at interpreter exit."""
        with self.lock:
            proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()

    def _process(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                ["node", str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env={**os.environ, "NODE_PATH": str(modules())},
            )  # fmt: skip
        return self.proc


_NODE = _Node()
atexit.register(_NODE.close)


def parse(text: str) -> Any:
    """``parse(text, {maxAliasCount: 10000})``: the document as JSON-like data (None for an empty one); YamlJsError with
    yaml's message when it throws."""
    answer = _NODE.ask({"parse": text})
    if "error" in answer:
        raise YamlJsError(answer["error"])
    return answer["value"]


def stringify(value: Any) -> str:
    """``stringify(value, {lineWidth: 1000})``."""
    answer = _NODE.ask({"stringify": value})
    if "error" in answer:
        raise YamlJsError(answer["error"])
    return str(answer["text"])


def roundtrip(text: str) -> str:
    """What a Dokploy deploy writes for a compose file without domains: ``stringify(parse(text))``."""
    return stringify(parse(text))


def version() -> str:
    return str(_NODE.ask({"version": True})["version"])
