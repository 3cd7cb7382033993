"""The release ledger, as the state backend's update history holds it (pure: no I/O).

Every `pulumi up` of a stack, whatever ran it (the CLI, the Automation API, pulumi/actions), leaves
one history entry in the backend: ``<stack>-<time>.history.json`` (kind, result, times, the git
commit and CI run the engine saw) and ``<stack>-<time>.checkpoint.json`` (the state after it,
with the stack outputs). The program exports its release in the ``release`` output and keeps a
``ReleaseRecord`` resource, written before any deploy, so that:

* a succeeded update holds the release it deployed, ``verified`` or not, in its outputs;
* a failed update holds the release it attempted in the ``ReleaseRecord`` state (its outputs are
  the previous update's): a record that did not change in a failed update means the failure came
  before the release was recorded (a push that failed: what runs did not change);
* a damaged entry (truncated, not JSON, encrypted) is skipped with a warning, never fatal;
* an entry that could not be read at all (the backend still failing after its retries) is not known to be
  damaged: it is listed as ``unreadable``, and ``previous`` and ``find`` refuse to pick a release older than
  it, naming the update (it may be the release that runs now, or a newer deployment of the one asked for).

``deployments`` turns the entries into ``Deployment`` rows (oldest first); ``releases`` groups
them per release id (newest first); ``previous`` and ``find`` pick what a rollback deploys.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.release import release_id

RECORD_TYPE = "pulumi-python:dynamic/releases:ReleaseRecord"
STACK_TYPE = "pulumi:pulumi:Stack"
SCHEMA = 1
RELEASE_ID = re.compile(r"^r-[0-9a-f]{12}$")
SECRET_SIG = "4dabf18193072939515e22adb298388d"
RECORD_KEYS = ("release_id", "manifest", "compose_sha256", "promoted_from", "pinned")
"""What identifies a record: a failed update that left these unchanged recorded nothing new."""

Warn = Callable[[str], None]


class ReleaseNotFound(LookupError):
    """No deployment answers the release asked for (unknown, never verified, or no previous one)."""


class HistoryUnreadable(ReleaseNotFound):
    """A history entry newer than the release that would be picked could not be read: nothing is picked."""


@dataclass(frozen=True)
class Entry:
    """One history entry as read from the backend: its key, the update info and the checkpoint (either may be None when damaged)."""

    key: str
    number: int
    """1 for the stack's oldest history entry, counting every kind (update, refresh, destroy)."""
    history: Mapping[str, Any] | None
    checkpoint: Mapping[str, Any] | None
    unreadable: str = ""
    """Why the entry could not be read (the backend's error after its retries); "" when it was read."""


@dataclass(frozen=True)
class Deployment:
    """One `pulumi up` of a stack and the release it deployed or attempted."""

    update: int
    """1 for the stack's oldest history entry, counting every kind (update, refresh, destroy)."""
    kind: str
    result: str
    """succeeded | failed (as the engine recorded it)."""
    started: int
    ended: int
    environment: Mapping[str, str]
    release: Mapping[str, Any] | None
    """The release record (the ``release`` output, or the ReleaseRecord state of a failed update); None: none recorded."""
    verified: bool = False
    unreadable: str = ""
    """Why this history entry could not be read ("" when it was): its kind, result and release are unknown."""

    @property
    def release_id(self) -> str:
        return str((self.release or {}).get("id") or "")

    @property
    def status(self) -> str:
        """verified | unverified (deployed, nothing proved it healthy) | failed | unreadable (not known)."""
        if self.unreadable:
            return "unreadable"
        if self.result != "succeeded":
            return "failed"
        return "verified" if self.verified else "unverified"

    @property
    def by(self) -> str:
        release = self.release or {}
        return str(release.get("by") or self.environment.get("git.author") or "")

    @property
    def commit(self) -> str:
        release = self.release or {}
        return str(release.get("commit") or self.environment.get("git.head") or "")[:12]

    @property
    def has_compose(self) -> bool:
        """Whether the record holds the compose texts a rollback deploys (succeeded updates do)."""
        compose = (self.release or {}).get("compose")
        return isinstance(compose, Mapping) and bool(compose) and all(isinstance(g, Mapping) and "text" in g for g in compose.values())


@dataclass
class Release:
    """One release id and every deployment of it (newest last)."""

    id: str
    deployments: list[Deployment] = field(default_factory=list)

    @property
    def status(self) -> str:
        """verified if any deployment of it was verified, else the status of its newest deployment."""
        if any(d.status == "verified" for d in self.deployments):
            return "verified"
        return self.deployments[-1].status

    @property
    def first(self) -> Deployment:
        return self.deployments[0]

    @property
    def last(self) -> Deployment:
        return self.deployments[-1]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def update_sort_key(key: str) -> tuple[int, str]:
    """History keys sort by the nanosecond timestamp in their name (``<stack>-<ns>.history.json``)."""
    match = re.search(r"-(\d+)\.history\.json", key)
    return (int(match.group(1)) if match else 0, key)


def deployments(entries: Iterable[Entry], warn: Warn) -> list[Deployment]:
    """Every update-kind deployment, oldest first; damaged entries are skipped with a warning."""
    out: list[Deployment] = []
    last_state: Mapping[str, Any] | None = None
    for entry in sorted(entries, key=lambda e: e.number):
        number, info = entry.number, entry.history
        if entry.unreadable:
            warn(f"update {number} ({entry.key}) could not be read: {entry.unreadable}")
            out.append(Deployment(number, "unknown", "unknown", 0, 0, {}, None, unreadable=entry.unreadable))
            last_state = {"unreadable": number}  # the next failed update cannot be compared with it: taken as a new record
            continue
        if not isinstance(info, Mapping) or not isinstance(info.get("kind"), str):
            warn(f"skipped update {number} ({entry.key}): its history record is damaged (not the JSON the engine writes)")
            continue
        if info["kind"] != "update":
            continue
        resources = _resources(entry.checkpoint)
        if resources is None:
            warn(f"skipped update {number} ({entry.key}): its checkpoint is missing or damaged")
            continue
        state = _record_state(resources)
        result = str(info.get("result") or "")
        release: Mapping[str, Any] | None = None
        verified = False
        if result == "succeeded":
            release, problem = _from_outputs(_stack_outputs(resources))
            if problem:
                warn(f"update {number} ({entry.key}): {problem}")
            verified = bool(release and release.get("verified") is True)
        elif state is not None and _identity(state) != _identity(last_state):
            release = _from_record_state(state)
        out.append(
            Deployment(
                update=number,
                kind="update",
                result=result,
                started=_int(info.get("startTime")),
                ended=_int(info.get("endTime")),
                environment={str(k): str(v) for k, v in (info.get("environment") or {}).items()},
                release=release,
                verified=verified,
            )
        )
        last_state = state if state is not None else last_state
    return out


def releases(rows: Sequence[Deployment]) -> list[Release]:
    """One Release per id, newest (by its last deployment) first; deployments that recorded no release are left out."""
    by_id: dict[str, Release] = {}
    for row in rows:
        if row.release_id:
            by_id.setdefault(row.release_id, Release(row.release_id)).deployments.append(row)
    return sorted(by_id.values(), key=lambda r: r.last.update, reverse=True)


def current(rows: Sequence[Deployment]) -> Deployment | None:
    """The deployment of what runs now: the newest one that recorded a release (a failed one included)."""
    recorded = [r for r in rows if r.release_id]
    return recorded[-1] if recorded else None


def previous(stack: str, rows: Sequence[Deployment]) -> Deployment:
    """The newest verified release deployed before the one that runs now (a failed deploy counts as running).

    Refused (HistoryUnreadable) when an update newer than that release could not be read: it may be what runs now.
    """
    now = current(rows)
    if now is None:
        _refuse_if_unreadable(stack, rows, 0, "the previous release")
        raise ReleaseNotFound(f"stack {stack}: no release has been recorded (has `pulumi up` run with this program?)")
    for row in reversed([r for r in rows if r.update < now.update]):
        if row.verified and row.release_id != now.release_id and row.has_compose:
            _refuse_if_unreadable(stack, rows, row.update, "the previous release")
            return row
    _refuse_if_unreadable(stack, rows, 0, "the previous release")
    raise ReleaseNotFound(f"stack {stack}: no verified release before the current one ({now.release_id}, {now.status})")


def _refuse_if_unreadable(stack: str, rows: Sequence[Deployment], after: int, what: str) -> None:
    """Raise HistoryUnreadable when an update newer than update ``after`` could not be read (then nothing is picked)."""
    unread = [r for r in rows if r.unreadable and r.update > after]
    if unread:
        which = "; ".join(f"update {r.update}: {r.unreadable}" for r in unread)
        raise HistoryUnreadable(
            f"stack {stack}: refusing to pick {what}: the history could not be read ({which}); that update may be the release "
            "that runs now or a newer deployment, so nothing older is deployed in its place. Run it again when the backend answers"
        )


def find(stack: str, rows: Sequence[Deployment], release_id: str) -> Deployment:
    """The newest verified deployment of a release (``previous``: see ``previous``)."""
    if release_id == "previous":
        return previous(stack, rows)
    mine = [r for r in rows if r.release_id == release_id]
    usable = [r for r in mine if r.verified and r.has_compose]
    if usable:
        _refuse_if_unreadable(stack, rows, usable[-1].update, f"release {release_id}")
        return usable[-1]
    _refuse_if_unreadable(stack, rows, 0, f"release {release_id}")
    if mine:
        statuses = ", ".join(f"update {r.update} {r.status}" for r in mine)
        raise ReleaseNotFound(f"stack {stack}: release {release_id} was never verified ({statuses}); refusing to deploy it again")
    known = ", ".join(r.id for r in releases(rows)) or "none"
    raise ReleaseNotFound(f"stack {stack}: no release {release_id} in the stack's update history (known: {known})")


def record(
    *,
    stack: str,
    manifest: Mapping[str, str],
    compose: Mapping[str, Mapping[str, Any]],
    promoted_from: str = "",
    source_release: str = "",
    pinned: str = "",
) -> dict[str, Any]:
    """The content of a release (what the ``release`` output holds before verification and who/when are added).

    ``compose``: group -> {text, env_keys, health_urls, services}; the sha256 of each text is added here.
    """
    return {
        "schema": SCHEMA,
        "id": release_id(manifest),
        "stack": stack,
        "manifest": dict(sorted(manifest.items())),
        "compose": {g: {**dict(c), "sha256": sha256_text(str(c["text"]))} for g, c in sorted(compose.items())},
        "promoted_from": promoted_from,
        "source_release": source_release,
        "pinned": pinned,
    }


def summary(release: Mapping[str, Any]) -> dict[str, Any]:
    """What the ReleaseRecord resource keeps of a release (its identity; compose texts stay in the output)."""
    compose = release.get("compose") or {}
    return {
        "release_id": release.get("id"),
        "stack": release.get("stack"),
        "manifest": release.get("manifest"),
        "compose_sha256": {g: c.get("sha256") for g, c in compose.items()},
        "promoted_from": release.get("promoted_from") or "",
        "pinned": release.get("pinned") or "",
    }


def _resources(checkpoint: Mapping[str, Any] | None) -> list[Mapping[str, Any]] | None:
    try:
        resources = checkpoint["checkpoint"]["latest"].get("resources") or []  # type: ignore[index]
    except (KeyError, TypeError, AttributeError):
        return None
    return [r for r in resources if isinstance(r, Mapping)] if isinstance(resources, list) else None


def _stack_outputs(resources: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    root = next((r for r in resources if r.get("type") == STACK_TYPE), None)
    outputs = (root or {}).get("outputs")
    return outputs if isinstance(outputs, Mapping) else {}


def _record_state(resources: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    found = next((r for r in resources if r.get("type") == RECORD_TYPE), None)
    outputs = (found or {}).get("outputs")
    return outputs if isinstance(outputs, Mapping) else None


def _identity(state: Mapping[str, Any] | None) -> str:
    return json.dumps({k: (state or {}).get(k) for k in RECORD_KEYS}, sort_keys=True)


def _from_record_state(state: Mapping[str, Any]) -> dict[str, Any] | None:
    rid = state.get("release_id")
    if not isinstance(rid, str) or not RELEASE_ID.match(rid):
        return None
    return {
        "schema": SCHEMA,
        "id": rid,
        "stack": state.get("stack") or "",
        "manifest": state.get("manifest") or {},
        "compose": {g: {"sha256": s} for g, s in (state.get("compose_sha256") or {}).items()},
        "promoted_from": state.get("promoted_from") or "",
        "pinned": state.get("pinned") or "",
        "by": state.get("by") or "",
        "commit": state.get("commit") or "",
        "recorded_at": state.get("recorded_at") or "",
        "verified": False,
    }


def _from_outputs(outputs: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The release of a succeeded update's outputs: the ``release`` output, or one rebuilt from the outputs of
    stacks deployed before it existed (release_id, release_manifest, compose, verified)."""
    value = outputs.get("release")
    if isinstance(value, Mapping) and SECRET_SIG in value:
        return None, "its release output is encrypted (secret); it cannot be read without the stack's secrets provider"
    if isinstance(value, Mapping):
        rid = value.get("id")
        if not isinstance(rid, str) or not RELEASE_ID.match(rid) or not isinstance(value.get("manifest"), Mapping):
            return None, "its release output is not a release record (no id or manifest); skipped"
        return dict(value), ""
    rid, manifest, compose = outputs.get("release_id"), outputs.get("release_manifest"), outputs.get("compose")
    if isinstance(rid, str) and RELEASE_ID.match(rid) and isinstance(manifest, Mapping):
        texts = compose if isinstance(compose, Mapping) else {}
        return {
            "schema": 0,
            "id": rid,
            "manifest": dict(manifest),
            "compose": {g: {"text": t, "sha256": sha256_text(t)} for g, t in texts.items() if isinstance(t, str)},
            "promoted_from": outputs.get("promoted_from") or "",
            "verified": outputs.get("verified") is True,
        }, ""
    return None, ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
