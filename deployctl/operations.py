"""The operations deployctl runs through the engine: up (recording the release), preview, rollback, unpin."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import yaml
from pulumi import automation as auto

from deployctl import engine, ledger


def up(stack_name: str, *, quiet: bool = False, on_event: Callable[[auto.EngineEvent], None] | None = None) -> tuple[auto.UpResult, float]:
    """`pulumi up` and, when it succeeds, a ledger entry for the release it verified."""
    st = engine.stack(stack_name)
    started = time.monotonic()
    result = st.up(on_output=None if quiet else print_line, on_event=on_event, color="never", suppress_progress=quiet)
    elapsed = time.monotonic() - started
    outputs = {k: v.value for k, v in result.outputs.items()}
    previous = ledger.releases(stack_name)[-1:]
    changed = previous == [] or previous[0]["release_id"] != outputs.get("release_id")
    if outputs.get("verified") and changed:
        # the file backend numbers no updates (version 0): count them from the stack's history
        ledger.record(stack_name, outputs, result.summary.version or len(st.history()))
    return result, elapsed


def preview(stack_name: str) -> auto.PreviewResult:
    """`pulumi preview --diff` (for the PR comment: `python -m deployctl.preview --stack S`)."""
    return engine.stack(stack_name).preview(diff=True, on_output=print_line, color="never")


def rollback(stack_name: str, release_id: str) -> tuple[auto.UpResult, float, dict[str, Any]]:
    """Pin the stack to an earlier release from the ledger and deploy it: no build, no push."""
    entry = ledger.find(stack_name, release_id)
    _pin_as_object(stack_name, entry["manifest"])
    result, elapsed = up(stack_name)
    return result, elapsed, entry


def unpin(stack_name: str) -> None:
    """Remove a rollback pin: the next `up` deploys the freshly pushed images again."""
    engine.stack(stack_name).remove_config("bizosaas:pinnedRelease")


def _pin_as_object(stack_name: str, manifest: dict[str, str]) -> None:
    """Write pinnedRelease as a YAML object in the stack file (config set would store a string)."""
    path = engine.PROJECT_DIR / f"Pulumi.{stack_name}.yaml"
    doc = yaml.safe_load(path.read_text()) or {}
    doc.setdefault("config", {})["bizosaas:pinnedRelease"] = dict(sorted(manifest.items()))
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def print_line(line: str) -> None:
    """Engine output to stdout, as it comes."""
    sys.stdout.write(line if line.endswith("\n") else line + "\n")
    sys.stdout.flush()
