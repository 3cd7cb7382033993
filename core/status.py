"""What runs, compared with the stack's last verified release (pure: no network, no clock): `deployctl status`.

Input: per compose project what Dokploy reports (``ProjectView``: its compose file's sha256, its
containers from ``docker inspect``, its Swarm services in stack mode, its routes), and the stack's
releases from the ledger (newest first). Output: one ``ServiceStatus`` per service (the compose project,
the digest that runs and the release it belongs to, health, restarts, up since, replicas, routes) and
the drift from the last verified release, each line plain: what the release says, what runs.

A service *matches* when ``core.verification.assess`` finds it running the release's image, healthy,
with its replicas, and nothing of another image running beside it: the same judgement as verification
after a deploy, on one reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.ledger import sha256_text
from core.verification import RUNNING, Container, Expected, SwarmService, assess, digest_of, expected_services


@dataclass(frozen=True)
class ProjectView:
    """One compose project as Dokploy reports it."""

    name: str
    """Its catalog name (the compose's name in Dokploy: backend, frontend)."""
    app_name: str
    mode: str
    """compose | stack"""
    compose_file: str
    containers: Sequence[Container]
    services: Mapping[str, SwarmService] | None = None
    status: str = ""
    """Dokploy's composeStatus (done, error, running, idle)."""
    routes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """service -> its public routes (host/path), when the state or Dokploy has them."""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.app_name})" if self.app_name else self.name


@dataclass(frozen=True)
class KnownRelease:
    """A release of the stack's ledger: its id, status (verified | unverified | failed) and record."""

    id: str
    status: str
    record: Mapping[str, Any]

    def digest(self, service: str) -> str:
        manifest = self.record.get("manifest") or {}
        return digest_of(str(manifest.get(service) or ""))


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    project: str
    app_name: str
    mode: str
    digest: str
    """The digest its running containers were created from (several: comma-separated); "" when none runs."""
    release: str
    """The newest verified release of the stack with that digest for this service (else the newest), "" when none has it."""
    health: str
    restarts: int
    up_since: str
    """The oldest StartedAt of its running containers (ISO-8601, UTC), "" when none runs."""
    replicas: str
    """running/desired (stack mode: Swarm's count; compose mode: running containers / what the release declares)."""
    routes: list[str]
    matches: bool
    """Runs the last verified release's image, healthy, with its replicas (nothing else of it running)."""
    drift: list[str]
    """Why it does not match (the findings, plain)."""


@dataclass(frozen=True)
class StackStatus:
    stack: str
    release: str
    """The last verified release ("" when the stack has none)."""
    release_recorded_at: str
    services: list[ServiceStatus]
    drift: list[str]
    """Every difference from the last verified release, one line each (compose files, services)."""

    @property
    def matches(self) -> bool:
        return bool(self.release) and not self.drift

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "matches": self.matches}


def last_verified(releases: Sequence[KnownRelease]) -> KnownRelease | None:
    """The newest verified release whose record holds its compose texts (what it deployed)."""
    return next((r for r in releases if r.status == "verified" and _texts(r.record)), None)


def status(stack: str, projects: Sequence[ProjectView], releases: Sequence[KnownRelease]) -> StackStatus:
    """Per service what runs, and every difference from the last verified release (``releases`` newest first)."""
    verified = last_verified(releases)
    texts = _texts(verified.record) if verified else {}
    by_name = {p.name: p for p in projects}
    drift: list[str] = []
    rows: list[ServiceStatus] = []
    rid = verified.id if verified else ""
    if verified is None:
        drift.append(f"stack {stack} has no verified release to compare with (`python -m deployctl releases --stack {stack}`)")
    for group in sorted(set(texts) - set(by_name)):
        drift.append(f"compose project {group}: in release {rid}, missing in Dokploy")
    for view in projects:
        text = texts.get(view.name)
        if verified is not None and text is None:
            drift.append(f"compose project {view.label}: in Dokploy, not in release {rid}")
        elif text is not None and sha256_text(view.compose_file) != sha256_text(text):
            drift.append(
                f"compose project {view.label}: its compose file in Dokploy differs from release {rid}'s "
                f"(sha256 {sha256_text(view.compose_file)[:12]}, release {sha256_text(text)[:12]}): changed in Dokploy since"
            )
        if view.status in ("error", "idle"):
            drift.append(f"compose project {view.label}: Dokploy says {view.status!r}")
        rows += _rows(view, _expected(text) if text is not None else _expected(view.compose_file), releases, text is not None)
    for row in rows:
        drift += [f"{row.service}: {line}" for line in row.drift]
    return StackStatus(stack, rid, str((verified.record if verified else {}).get("recorded_at") or ""), rows, drift)


def _texts(record: Mapping[str, Any]) -> dict[str, str]:
    compose = record.get("compose") or {}
    return {str(g): str(c["text"]) for g, c in compose.items() if isinstance(c, Mapping) and isinstance(c.get("text"), str)}


def _expected(text: str) -> dict[str, Expected]:
    try:
        return expected_services(text)
    except ValueError:
        return {}


def _rows(view: ProjectView, expected: Mapping[str, Expected], releases: Sequence[KnownRelease], compared: bool) -> list[ServiceStatus]:
    judged = assess(expected, view.containers, mode=view.mode, services=view.services)
    findings: dict[str, list[str]] = {}
    for f in (*judged.failed, *judged.waiting):
        findings.setdefault(f.service, []).append(f"expected {f.expected}; saw {f.seen}")
    names = list(expected) + sorted({c.service for c in view.containers if c.service and c.service not in expected})
    rows = []
    for name in names:
        mine = [c for c in view.containers if c.service == name and not c.one_off]
        running = [c for c in mine if c.state in RUNNING]
        digests = sorted({digest_of(c.image) for c in running})
        swarm = (view.services or {}).get(name)
        want = expected.get(name)
        replicas = f"{swarm.running}/{swarm.desired}" if swarm else f"{len(running)}/{want.replicas if want else 0}"
        ok = compared and name in judged.ready
        rows.append(
            ServiceStatus(
                service=name,
                project=view.name,
                app_name=view.app_name,
                mode=view.mode,
                digest=", ".join(digests),
                release=", ".join(dict.fromkeys(_release_of(name, d, releases) for d in digests)),
                health=", ".join(sorted({_health(c) for c in mine})) or "no container",
                restarts=sum(c.restart_count for c in mine),
                up_since=min((c.started_at for c in running if c.started_at), default=""),
                replicas=replicas,
                routes=list(view.routes.get(name) or []),
                matches=ok,
                drift=[] if ok or not compared else findings.get(name) or ["not as in the release"],
            )
        )
    return rows


def _release_of(service: str, digest: str, releases: Sequence[KnownRelease]) -> str:
    """The newest verified release with this digest for the service, else the newest of any status ("" when none has it)."""
    mine = [r for r in releases if r.digest(service) == digest]
    return next((r.id for r in mine if r.status == "verified"), mine[0].id if mine else "")


def _health(c: Container) -> str:
    if c.state != "running":
        return f"{c.state} ({c.exit_code})" if c.state in ("exited", "dead", "restarting") else c.state
    return c.health or "running"


def since(started_at: str, now: datetime) -> str:
    """``2026-12-05 10:00:01Z (3m ago)`` from Docker's StartedAt (nanoseconds, Z); the text as is when it does not parse."""
    if not started_at:
        return "-"
    text = started_at.rstrip("Z").split(".")[0]
    try:
        when = datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return started_at
    ago = max(0, int((now - when).total_seconds()))
    span = f"{ago}s" if ago < 120 else f"{ago // 60}m" if ago < 7200 else f"{ago // 3600}h" if ago < 172800 else f"{ago // 86400}d"
    return f"{when:%Y-%m-%d %H:%M:%S}Z ({span} ago)"


COLUMNS = ("service", "project", "digest", "release", "health", "restarts", "up since", "replicas", "routes", "release match")


def table(report: StackStatus, now: datetime) -> list[str]:
    """What `deployctl status` prints: one row per service, then the verdict and every drift line."""
    cells = [
        (
            r.service,
            r.project,
            r.digest.replace("sha256:", "")[:12] or "-",
            r.release or ("-" if not r.digest else "none of this stack"),
            r.health,
            str(r.restarts),
            since(r.up_since, now),
            r.replicas,
            ", ".join(r.routes) or "-",
            "yes" if r.matches else "NO",
        )
        for r in report.services
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(COLUMNS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    projects = dict.fromkeys(f"{r.project} ({r.app_name}, {r.mode} mode)" for r in report.services)
    lines.append("")
    lines.append("compose projects: " + (", ".join(projects) or "none in Dokploy"))
    if report.matches:
        recorded = f", recorded {report.release_recorded_at}" if report.release_recorded_at else ""
        lines.append(f"stack {report.stack}: runs its last verified release {report.release}{recorded}: no drift")
    else:
        against = f"its last verified release {report.release}" if report.release else "no verified release"
        lines.append(f"stack {report.stack}: DRIFT from {against} ({len(report.drift)}):")
        lines += [f"  - {line}" for line in report.drift]
    return lines
