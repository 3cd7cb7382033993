"""The release ledger, read from the state backend's update history: what `deployctl releases` lists and rollback resolves.

Nothing here writes. `pulumi up` records every release itself (the program's ``release`` output and
ReleaseRecord, in the checkpoint the backend keeps per update; see core/ledger.py), so the ledger
is the same whichever way the stack was deployed. The backend is the one the engine uses
(``PULUMI_BACKEND_URL``, which deployctl's engine environment sets, or `pulumi login`).
A damaged history entry is skipped with a warning on stderr; one that could not be read (the backend still
failing after its retries) is listed as unreadable, and a rollback refuses to pick a release older than it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from components.stack_config import PROJECT
from core import ledger
from probes import state_backend


def warn(message: str) -> None:
    print(f"deployctl: warning: {message}", file=sys.stderr)


def deployments(stack: str, newest: int | None = None) -> list[ledger.Deployment]:
    """Every deployment of the stack (oldest first), from the backend's history."""
    backend = state_backend.open_backend(state_backend.backend_url())
    return state_backend.read_deployments(backend, PROJECT, stack, warn, newest)


def releases(stack: str) -> list[ledger.Release]:
    """One entry per release id, newest first."""
    return ledger.releases(deployments(stack))


def find(stack: str, release_id: str) -> ledger.Deployment:
    """The newest verified deployment of a release id, or of the release before the current one ('previous')."""
    backend = state_backend.open_backend(state_backend.backend_url())
    return state_backend.find_deployment(backend, PROJECT, stack, release_id, warn)


def lines(rows: Sequence[ledger.Deployment]) -> list[str]:
    """What `deployctl releases` prints: one line per release, and per failed update that recorded none; newest first."""
    items = [(r.last.update, _release_line(r)) for r in ledger.releases(rows)]
    items += [(d.update, _bare_line(d)) for d in rows if not d.release_id]
    return [line for _, line in sorted(items, reverse=True)]


def when(row: ledger.Deployment) -> str:
    recorded = str((row.release or {}).get("recorded_at") or "")
    return recorded or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.started))


def _release_line(rel: ledger.Release) -> str:
    first, last = rel.first, rel.last
    text = f"{rel.id}  {rel.status:<10}  {when(first)}  by {first.by or '-'}  commit {first.commit or '-'}  update {first.update}"
    if len(rel.deployments) > 1:
        how = " (pinned)" if (last.release or {}).get("pinned") else ""
        text += f"  deployed {len(rel.deployments)} times, last update {last.update} {last.status}{how}"
    source = (first.release or {}).get("promoted_from")
    return text + (f"  promoted from {source}" if source else "")


def _bare_line(row: ledger.Deployment) -> str:
    if row.unreadable:
        return f"{'?':<14}  {row.status:<10}  {'?':<20}  update {row.update}  (could not be read: {row.unreadable})"
    when_ = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.started))
    who = f"by {row.by or '-'}  commit {row.commit or '-'}"
    return f"{'-':<14}  {row.status:<10}  {when_}  {who}  update {row.update}  (failed before a release was recorded)"
