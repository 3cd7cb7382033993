"""The benchmark's JSON document (for plotting across commits) and the facts of the machine it ran on."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.results import Row
from benchmarks.targets import Target

SCHEMA = 1


def _out(argv: list[str]) -> str:
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({type(exc).__name__})"
    return run.stdout.strip() or f"unavailable ({run.stderr.strip()[:120]})"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine(pulumi_bin: Path, standins: bool) -> dict[str, Any]:
    """Core count, Python, the pulumi CLI and SDK versions, pulumi-docker's and pulumi-command's, Docker's, the stand-ins."""
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pulumi_cli": _out([str(pulumi_bin), "version"]),
        "pulumi_sdk": _version("pulumi"),
        "pulumi_docker_sdk": _version("pulumi_docker"),
        "pulumi_command_sdk": _version("pulumi_command"),
        "docker_server": _out(["docker", "version", "--format", "{{.Server.Version}}"]),
        "docker_client": _out(["docker", "version", "--format", "{{.Client.Version}}"]),
        "standins": standins,
    }


def document(
    *,
    runs: int,
    facts: dict[str, Any],
    rows: list[Row],
    outcomes: list[Target],
    scale: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
    commit: str = "",
) -> dict[str, Any]:
    """Every row with its runs, medians and ratios, the targets, the scale part and the profile."""
    base = next((r.median for r in rows if r.key == "old"), None)
    return {
        "schema": SCHEMA,
        "commit": commit,
        "runs": runs,
        "machine": facts,
        "rows": [r.as_json(base) for r in rows],
        "targets": [o.as_json() for o in outcomes],
        "scale": scale,
        "profile": profile,
    }


def finite(value: Any) -> Any:
    """NaN and infinities (a ratio without its base) as null: the file stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(finite(doc), indent=2, allow_nan=False) + "\n")
