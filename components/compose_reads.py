"""Dokploy's view of a stack's composes (``compose.one``), read once per engine command in the dynamic-provider host.

The engine diffs resources one after another (its parallel diff is off unless ``PULUMI_PARALLEL_DIFF`` is set), and each
ComposeProject's diff reads its compose from Dokploy (~0.3 s at Dokploy's measured latency): ten compose projects cost
three seconds of a no-op ``up`` or ``preview``. So the first diff of an environment also starts reading the other
composes of that environment at once (one ``environment.one``, then their ``compose.one``s, ``READERS`` in flight), in
the background, and the diffs that follow take their row from there (``read``): a row read ahead is used once, and only
while it is younger than ``FRESH`` seconds; else the diff reads its compose itself. The update that follows a diff
takes the row that diff read (``kept``) instead of asking Dokploy again.

The host process lives for one engine command (``pulumi preview``, ``pulumi up``): nothing here outlives it, and the
rows never leave it (no state, no log).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from dokploy_api import DokployClient, DokployNotFound

READERS = 4
"""compose.one calls in flight at once for the read-ahead (Dokploy serves concurrent requests in parallel)."""
FRESH = 10.0
"""Seconds a row read ahead may be used by a diff (the diffs of one command follow each other within a second or two;
one that comes later, after a push, reads its compose itself)."""

Row = dict[str, Any] | None
"""A ``compose.one`` row, or None: Dokploy has no such compose."""
Key = tuple[str, str]
"""(Dokploy's base URL, an id)"""

_lock = threading.Lock()
_ahead: dict[Key, Future[tuple[Row, float]]] = {}
_listings: dict[Key, Future[None]] = {}
_kept: dict[Key, Row] = {}


def one(client: DokployClient, compose_id: str) -> Row:
    """``compose.one`` now; None when Dokploy does not have the compose."""
    try:
        return client.compose.one(compose_id)
    except DokployNotFound:
        return None


def read(client: DokployClient, compose_id: str, environment_id: str, new_client: Callable[[], DokployClient]) -> Row:
    """The compose's row for a diff: read ahead when there is a fresh one, else read now (None: Dokploy does not have it),
    and kept for the update that may follow. The first read of an environment starts the read-ahead of its other
    composes (``new_client``: the client those reads use, in their own thread). Dokploy's errors are raised as they are."""
    base = client.base_url
    with _lock:
        listing = _listings.get((base, environment_id)) if environment_id else None
        start = bool(environment_id) and listing is None
        if start:
            listing = _listings[(base, environment_id)] = Future()
    if start and listing is not None:
        threading.Thread(target=_read_ahead, args=(base, environment_id, compose_id, new_client, listing), daemon=True).start()
    elif listing is not None:
        listing.exception()  # the listing may be on its way: wait for it, so that this compose is not read twice
    with _lock:
        pending = _ahead.pop((base, compose_id), None)
    row, at = pending.result() if pending is not None else (None, -FRESH)
    if time.monotonic() - at >= FRESH:
        row = one(client, compose_id)
    with _lock:
        _kept[(base, compose_id)] = row
    return row


def kept(base_url: str, compose_id: str) -> tuple[bool, Row]:
    """(True, the row) the diff of this compose read in this command, handed out once; (False, None) when there is none."""
    with _lock:
        if (base_url, compose_id) not in _kept:
            return False, None
        return True, _kept.pop((base_url, compose_id))


def _read_ahead(base: str, environment_id: str, skip: str, new_client: Callable[[], DokployClient], listing: Future[None]) -> None:
    """List the environment's composes, register a pending read for each (but ``skip``: its diff reads it), then read them."""
    pending: dict[str, Future[tuple[Row, float]]] = {}
    try:
        with new_client() as client:
            try:
                rows = client.environment.one(environment_id).get("compose") or []
                ids = [str(c["composeId"]) for c in rows if isinstance(c, dict) and c.get("composeId") and c["composeId"] != skip]
                with _lock:
                    for compose_id in ids:
                        if (base, compose_id) not in _ahead:
                            _ahead[(base, compose_id)] = pending[compose_id] = Future()
            finally:
                listing.set_result(None)  # listed or not: a diff that finds no row reads its compose itself
            with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="compose-read") as pool:
                for compose_id, outcome in zip(pending, pool.map(lambda c: _outcome(client, c), pending), strict=True):
                    row, error = outcome
                    if error is not None:
                        pending[compose_id].set_exception(error)
                    else:
                        pending[compose_id].set_result((row, time.monotonic()))
    except Exception as exc:  # handed to the diffs that take these rows (they handle Dokploy's errors as their own read's)
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)
    finally:
        if not listing.done():  # no client to list with: every diff reads its compose itself, none waits for a listing
            listing.set_result(None)


def _outcome(client: DokployClient, compose_id: str) -> tuple[Row, BaseException | None]:
    try:
        return one(client, compose_id), None
    except Exception as exc:  # handed to the diff that takes the row
        return None, exc
