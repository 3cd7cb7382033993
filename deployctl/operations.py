"""The operations deployctl runs through the engine: up, preview, refresh, destroy, rollback (pin + up), unpin.

`pulumi up` records every release itself (the program's ``release`` output, in the backend's history):
nothing here writes a ledger. A pin is the config value ``pinnedRelease: r-...``, set and removed with
`pulumi config set/rm` (the engine edits the stack file, comments kept), so that `pulumi preview` and
`pulumi up` of a pinned stack, by anyone, deploy the same release. An operation that meets the stack
lock of another update waits for it (bounded: BIZOSAAS_LOCK_WAIT seconds, default 900).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pulumi import automation as auto

from components.stack_config import PROJECT
from core.ledger import Deployment
from deployctl import engine, ledger

T = TypeVar("T")
LOCKED = "the stack is currently locked"
"""What the engine says when another update holds the stack's lock (it has changed nothing)."""
LOCK_POLL = 10.0
OnEvent = Callable[[auto.EngineEvent], None]


class EngineFailed(Exception):
    """A `pulumi` command failed; ``problems`` are its error diagnostics, each once, in order."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def up(
    stack_name: str, *, quiet: bool = False, on_event: OnEvent | None = None, refresh: bool = False, results: bool = True
) -> tuple[auto.UpResult, float]:
    """`pulumi up --continue-on-error` (the program records the release it deploys); ``refresh``: with --refresh.

    --continue-on-error: an image that fails its pre-push test stops only what depends on it (its
    tag, its push, the release record and so every compose project: a release is deployed whole);
    the images that passed are still pushed. Without it the engine starts nothing new after the
    first failure, so what gets pushed would depend on which test finished first.

    ``results=False`` (`deployctl up`, the benchmark: nothing reads them): the result's ``outputs`` are empty and its
    ``summary`` is the engine's own summary event, so the two reads the Automation API makes after `pulumi up` (`pulumi
    stack output --show-secrets`, `pulumi stack history`: two more engine processes, each decrypting the stack's secrets,
    ~0.9 s on 2 cores, more than a no-op up costs beyond its preview) are not made.
    """
    st = engine.stack(stack_name)
    started, began = time.monotonic(), datetime.now(UTC)
    output = None if quiet else print_line
    summaries: list[auto.events.SummaryEvent] = []

    def watch(event: auto.EngineEvent) -> None:
        if event.summary_event is not None:
            summaries.append(event.summary_event)
        if on_event is not None:
            on_event(event)

    if not results:  # instance attributes over the two methods Stack.up calls once `pulumi up` returned
        st.outputs = dict  # type: ignore[method-assign]
        st.info = lambda show_secrets=True: _summary(began, summaries)  # type: ignore[method-assign]
    result = run(
        st.up, watch, on_output=output, color="never", suppress_progress=quiet, refresh=refresh or None, continue_on_error=True
    )
    return result, time.monotonic() - started


def _summary(began: datetime, events: list[auto.events.SummaryEvent]) -> auto.UpdateSummary:
    """The update's summary from the engine's summary event (the Automation API reads it from `pulumi stack history`)."""
    changes = dict(events[-1].resource_changes) if events else None
    return auto.UpdateSummary(kind="update", start_time=began, message="", environment={}, config={}, result="succeeded",
                              end_time=datetime.now(UTC), resource_changes=changes)


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


def pin(stack_name: str, release_id: str) -> Deployment:
    """Pin the stack to a verified release of its history (an id, or 'previous'): `pulumi config set pinnedRelease r-...`."""
    row = ledger.find(stack_name, release_id)
    engine.stack(stack_name).set_config(f"{PROJECT}:pinnedRelease", auto.ConfigValue(row.release_id))
    return row


def rollback(stack_name: str, release_id: str, *, quiet: bool = False, results: bool = True) -> tuple[auto.UpResult, float, Deployment]:
    """Pin the stack to an earlier verified release and deploy it as recorded: no build, no push.

    `up --refresh`: after a failed deploy Dokploy may run the failed compose while the state still
    says the last good one; the refresh reads what runs, so the pinned release is deployed over it.
    ``results``: as for ``up``.
    """
    row = pin(stack_name, release_id)
    result, elapsed = up(stack_name, quiet=quiet, refresh=True, results=results)
    return result, elapsed, row


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

    deadline = time.monotonic() + float(os.environ.get("BIZOSAAS_LOCK_WAIT") or 900)
    while True:
        errors.clear()
        try:
            return command(on_event=collect, **kwargs)
        except auto.CommandError as exc:
            if LOCKED in str(exc) and time.monotonic() < deadline:  # refused before anything ran: safe to try again
                print_line(f"deployctl: the stack is locked by another update; trying again in {LOCK_POLL:.0f}s")
                time.sleep(LOCK_POLL)
                continue
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


def print_line(line: str) -> None:
    """Engine output to stdout, as it comes."""
    sys.stdout.write(line if line.endswith("\n") else line + "\n")
    sys.stdout.flush()
