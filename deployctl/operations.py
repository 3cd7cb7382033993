"""The operations deployctl runs through the engine: up (recording the release), preview, refresh, destroy, rollback, unpin."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from pulumi import automation as auto

from components.stack_config import PROJECT
from deployctl import engine, ledger

T = TypeVar("T")
OnEvent = Callable[[auto.EngineEvent], None]


class EngineFailed(Exception):
    """A `pulumi` command failed; ``problems`` are its error diagnostics, each once, in order."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def up(stack_name: str, *, quiet: bool = False, on_event: OnEvent | None = None) -> tuple[auto.UpResult, float]:
    """`pulumi up --continue-on-error` and, when it succeeds, a ledger entry for the release it verified.

    --continue-on-error: an image that fails its pre-push test stops only what depends on it (its
    tag, its push, its compose project); the images that passed are still pushed, and a compose
    project whose images all passed is still deployed. Without it the engine starts nothing new
    after the first failure, so what gets pushed would depend on which test finished first.
    """
    st = engine.stack(stack_name)
    started = time.monotonic()
    result = run(
        st.up, on_event, on_output=None if quiet else print_line, color="never", suppress_progress=quiet, continue_on_error=True
    )
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
    st = engine.stack(stack_name)
    return run(st.preview, None, diff=True, on_output=print_line, color="never")


def refresh(stack_name: str) -> auto.RefreshResult:
    st = engine.stack(stack_name)
    return run(st.refresh, None, on_output=print_line, color="never")


def destroy(stack_name: str) -> auto.DestroyResult:
    st = engine.stack(stack_name)
    return run(st.destroy, None, on_output=print_line, color="never")


def rollback(stack_name: str, release_id: str) -> tuple[auto.UpResult, float, dict[str, Any]]:
    """Pin the stack to an earlier release from the ledger and deploy it: no build, no push."""
    entry = ledger.find(stack_name, release_id)
    _pin_as_object(stack_name, entry["manifest"])
    result, elapsed = up(stack_name)
    return result, elapsed, entry


def unpin(stack_name: str) -> None:
    """Remove a rollback pin: the next `up` deploys the freshly pushed images again."""
    engine.stack(stack_name).remove_config(f"{PROJECT}:pinnedRelease")


def run(command: Callable[..., T], on_event: OnEvent | None, **kwargs: Any) -> T:
    """Run an Automation API command; a failure becomes EngineFailed with the engine's error diagnostics, each once."""
    errors: list[str] = []

    def collect(event: auto.EngineEvent) -> None:
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity == "error" and diagnostic.message.strip():
            errors.append(_named(diagnostic.urn or "", diagnostic.message.strip()))
        if on_event is not None:
            on_event(event)

    try:
        return command(on_event=collect, **kwargs)
    except auto.CommandError as exc:
        raise EngineFailed(list(dict.fromkeys(errors)) or _stderr_errors(str(exc))) from None


def _named(urn: str, message: str) -> str:
    """The message, after the resource it is about (``backend (dokploy:ComposeProject): ...``); the stack's own as is."""
    parts = urn.split("::")
    if len(parts) < 4 or parts[2].endswith("pulumi:pulumi:Stack"):
        return message
    kind = parts[2].rsplit("$", 1)[-1].replace("pulumi-python:dynamic/", "")
    return f"{parts[3]} ({kind}): {message}"


def _stderr_errors(text: str) -> list[str]:
    """The ``error:`` part of a failed command's stderr (when no diagnostic event carried it), blank lines dropped."""
    stderr = text.split(" stderr: ", 1)[-1]
    start = stderr.find("error:")
    lines = [line for line in stderr[start if start >= 0 else 0 :].splitlines() if line.strip()]
    return list(dict.fromkeys(lines[-40:])) or ["the engine failed without a message"]


def _pin_as_object(stack_name: str, manifest: dict[str, str]) -> None:
    """Write pinnedRelease as a YAML object in the stack file (config set would store a string)."""
    path = engine.PROJECT_DIR / f"Pulumi.{stack_name}.yaml"
    doc = yaml.safe_load(path.read_text()) or {}
    doc.setdefault("config", {})[f"{PROJECT}:pinnedRelease"] = dict(sorted(manifest.items()))
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def print_line(line: str) -> None:
    """Engine output to stdout, as it comes."""
    sys.stdout.write(line if line.endswith("\n") else line + "\n")
    sys.stdout.flush()
