"""The release ledger: one JSON line per successful, verified deploy of a stack.

It lives in the state backend's folder (``<backend>/ledger/<project>/<stack>.jsonl``) so it
survives `pulumi stack rm`, and each line repeats what the stack exported (release id, digests,
compose hashes, the per-service verification record: digest seen, health, restarts, window) plus
when, by whom and from which commit. Rollback reads it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PROJECT = "bizosaas-deploy"


def ledger_path(stack: str, backend_url: str | None = None) -> Path:
    """Where a stack's ledger lives: $BIZOSAAS_LEDGER_DIR, else beside a file:// backend's state.

    With an object-store backend, CI syncs BIZOSAAS_LEDGER_DIR with the bucket (see the workflows).
    """
    if os.environ.get("BIZOSAAS_LEDGER_DIR"):
        return Path(os.environ["BIZOSAAS_LEDGER_DIR"]) / PROJECT / f"{stack}.jsonl"
    url = backend_url or os.environ.get("PULUMI_BACKEND_URL", "")
    parsed = urlparse(url)
    if parsed.scheme != "file":
        raise RuntimeError(f"the release ledger needs BIZOSAAS_LEDGER_DIR or a file:// backend (PULUMI_BACKEND_URL is {url!r})")
    return Path(parsed.path) / "ledger" / PROJECT / f"{stack}.jsonl"


def record(stack: str, outputs: dict[str, Any], update_version: int | None) -> dict[str, Any]:
    """Append the release a successful `up` produced; returns the entry."""
    compose = outputs.get("compose") or {}
    entry = {
        "release_id": outputs["release_id"],
        "stack": stack,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "by": os.environ.get("GITHUB_ACTOR") or getpass.getuser(),
        "commit": _git_commit(),
        "update": update_version,
        "verified": bool(outputs.get("verified")),
        "promoted_from": outputs.get("promoted_from") or "",
        "manifest": outputs["release_manifest"],
        "verification": outputs.get("verification") or {},
        "compose_sha256": {g: hashlib.sha256(t.encode()).hexdigest() for g, t in sorted(compose.items())},
    }
    path = ledger_path(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
    return entry


def releases(stack: str) -> list[dict[str, Any]]:
    """Every recorded release of a stack, oldest first."""
    path = ledger_path(stack)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def find(stack: str, release_id: str) -> dict[str, Any]:
    """The newest ledger entry with that release id (or the previous release for 'previous')."""
    entries = releases(stack)
    if release_id == "previous":
        distinct = [e for i, e in enumerate(entries) if i == 0 or e["release_id"] != entries[i - 1]["release_id"]]
        if len(distinct) < 2:
            raise LookupError(f"stack {stack}: the ledger has no release before the current one")
        return distinct[-2]
    for entry in reversed(entries):
        if entry["release_id"] == release_id:
            return entry
    known = ", ".join(dict.fromkeys(e["release_id"] for e in reversed(entries))) or "none"
    raise LookupError(f"stack {stack}: no release {release_id} in the ledger (known: {known})")


def _git_commit() -> str:
    run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return run.stdout.strip() if run.returncode == 0 else ""
