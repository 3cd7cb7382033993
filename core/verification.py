"""What "verified" means, decided from what Dokploy reports runs (pure: no network, no clock, no pulumi).

A compose project is verified when, after Dokploy reports its deployment done:

1. what runs is what was deployed: every service's running containers (compose mode) or task
   containers (stack mode) use the image reference this ``up`` rendered, none of an older one is
   still running, and no container of a service the compose file does not declare runs in it;
2. each of them is healthy (Docker's health status, from the compose healthcheck), or merely
   running when the compose file gives the service no healthcheck;
3. it stays so over the stability window: no container restarts (``RestartCount``, ``StartedAt``),
   exits, turns unhealthy or is replaced, and (stack mode) no Swarm rollback starts.

``assess`` judges one observation; ``unstable`` compares an observation made during the window
with the ``baseline`` taken when the window began; ``record_of`` is the per-service record that
becomes the stack output ``verification``. The reading (``probes/dokploy_runtime.py``) decides
when to look; this module only says what it saw means.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from core import release, yaml_text

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
COMPOSE_ONEOFF_LABEL = "com.docker.compose.oneoff"
SWARM_SERVICE_LABEL = "com.docker.swarm.service.name"
MODES = ("compose", "stack")
RUNNING = frozenset({"running", "restarting", "paused"})
"""States in which a container still holds its ports and network aliases (it may be serving)."""
GONE = frozenset({"exited", "dead"})
_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")
_REPLICAS = re.compile(r"^\s*(\d+)\s*/\s*(\d+)")


@dataclass(frozen=True)
class Expected:
    """What one service of the rendered compose file should run."""

    image: str
    """The reference the compose file gives (``repo@sha256:...``); "" = not checked (a service built by Dokploy)."""
    replicas: int = 1
    healthcheck: bool = False
    """The compose file gives the service a healthcheck: its containers must report ``healthy``."""


@dataclass(frozen=True)
class Container:
    """One container, from its ``docker inspect`` object (``docker.getConfig``)."""

    id: str
    name: str
    service: str | None
    """Its compose service (label), or the Swarm service without the ``<appName>_`` prefix; None when unlabelled."""
    image: str
    """``Config.Image``: the reference it was created from (``repo@sha256:...`` when deployed by digest)."""
    state: str
    health: str | None
    """``State.Health.Status`` (healthy, unhealthy, starting), None without a healthcheck."""
    restart_count: int = 0
    exit_code: int = 0
    started_at: str = ""
    one_off: bool = False
    """A ``docker compose run`` container (not one of the service's replicas)."""
    health_output: str = field(default="", compare=False)
    """The last health probe's exit code and output (``State.Health.Log``), one line: why it is not healthy."""


@dataclass(frozen=True)
class SwarmService:
    """One Swarm service of a stack, from ``swarm.getNodeApps``."""

    service: str
    image: str
    running: int
    desired: int


@dataclass(frozen=True)
class Finding:
    """Something that is not as it should be: the service, what was expected, what was seen."""

    service: str
    expected: str
    seen: str
    container: str | None = None
    """Id of the container whose log explains it, if any."""

    def describe(self) -> str:
        return f"{self.service}: expected {self.expected}; saw {self.seen}"


@dataclass(frozen=True)
class Assessment:
    """One observation judged: services ready, findings that waiting may fix, findings it cannot."""

    ready: dict[str, tuple[Container, ...]] = field(default_factory=dict)
    waiting: tuple[Finding, ...] = ()
    failed: tuple[Finding, ...] = ()

    @property
    def done(self) -> bool:
        return not self.waiting and not self.failed


@dataclass(frozen=True)
class Mark:
    """A container as it was when the stability window began."""

    service: str
    name: str
    restart_count: int
    started_at: str
    health: str | None


def expected_services(compose_yaml: str) -> dict[str, Expected]:
    """service -> what it should run, from the compose file that was deployed (ValueError if it is not compose YAML)."""
    try:
        doc = yaml_text.load(compose_yaml or "")
    except yaml.YAMLError as exc:
        raise ValueError(f"the compose file is not YAML: {exc}") from None
    services = doc.get("services") if isinstance(doc, Mapping) else None
    if not isinstance(services, Mapping) or not services:
        raise ValueError("the compose file declares no services")
    out: dict[str, Expected] = {}
    for name, raw in services.items():
        spec: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        deploy = spec.get("deploy") if isinstance(spec.get("deploy"), Mapping) else {}
        count = spec.get("scale", (deploy or {}).get("replicas", 1))
        out[str(name)] = Expected(
            image=str(spec.get("image") or ""),
            replicas=1 if count is None else int(count),
            healthcheck=_has_healthcheck(spec.get("healthcheck")),
        )
    return out


def _has_healthcheck(raw: Any) -> bool:
    if not isinstance(raw, Mapping) or raw.get("disable"):
        return False
    test = raw.get("test")
    return bool(test) and test != ["NONE"] and test != "NONE"


def container_from_inspect(obj: Mapping[str, Any], app_name: str = "") -> Container:
    """A Container from a ``docker inspect`` object (the fields verification reads; nothing secret is kept)."""
    config = obj.get("Config") if isinstance(obj.get("Config"), Mapping) else {}
    labels = (config or {}).get("Labels") if isinstance((config or {}).get("Labels"), Mapping) else {}
    labels = labels or {}
    state = obj.get("State") if isinstance(obj.get("State"), Mapping) else {}
    state = state or {}
    health = state.get("Health") if isinstance(state.get("Health"), Mapping) else None
    service: str | None = labels.get(COMPOSE_SERVICE_LABEL)
    swarm = labels.get(SWARM_SERVICE_LABEL)
    if service is None and isinstance(swarm, str):
        service = swarm.removeprefix(f"{app_name}_") if app_name else swarm
    restarts = obj.get("RestartCount")
    exit_code = state.get("ExitCode")
    probes = health.get("Log") if health and isinstance(health.get("Log"), list) else []
    last = probes[-1] if probes and isinstance(probes[-1], Mapping) else {}
    output = " ".join(str(last.get("Output") or "").split())[:200]
    return Container(
        id=str(obj.get("Id") or ""),
        name=str(obj.get("Name") or "").lstrip("/"),
        service=str(service) if service is not None else None,
        image=str((config or {}).get("Image") or ""),
        state=str(state.get("Status") or "unknown"),
        health=str(health.get("Status")) if health and health.get("Status") else None,
        restart_count=restarts if isinstance(restarts, int) else 0,
        exit_code=exit_code if isinstance(exit_code, int) else 0,
        started_at=str(state.get("StartedAt") or ""),
        one_off=labels.get(COMPOSE_ONEOFF_LABEL) == "True",
        health_output=f"exit {last.get('ExitCode')}: {output}" if last else "",
    )


def swarm_services(rows: Iterable[Mapping[str, Any]], app_name: str) -> dict[str, SwarmService]:
    """The stack's services among ``swarm.getNodeApps`` rows (``Name: <appName>_<service>``, ``Replicas: "1/2"``)."""
    out: dict[str, SwarmService] = {}
    prefix = f"{app_name}_"
    for row in rows:
        name = row.get("Name")
        if not isinstance(name, str) or not name.startswith(prefix):
            continue
        m = _REPLICAS.match(str(row.get("Replicas") or ""))
        running, desired = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        service = name.removeprefix(prefix)
        out[service] = SwarmService(service, str(row.get("Image") or ""), running, desired)
    return out


def digest_of(reference: str) -> str:
    """The ``sha256:...`` of a pinned reference, else the reference itself."""
    m = _DIGEST.search(reference or "")
    return m.group(1) if m else reference


def same_image(seen: str, expected: str) -> bool:
    """Whether a container created from ``seen`` runs the image ``expected`` names (by digest when pinned)."""
    if not expected:
        return True
    want, got = _normal(expected), _normal(seen)
    if _DIGEST.search(want):
        return bool(_DIGEST.search(got)) and _repository(got) == _repository(want) and digest_of(got) == digest_of(want)
    return got == want


def _normal(reference: str) -> str:
    ref = reference.strip()
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        ref = ref.removeprefix(prefix)
    return ref


def _repository(reference: str) -> str:
    """``host/name`` without tag or digest."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rindex(":")]
    return name


def _seen(c: Container) -> str:
    health = f", {c.health}" if c.health else ""
    restarts = f", RestartCount {c.restart_count}" if c.restart_count else ""
    exited = f" with code {c.exit_code}" if c.state in GONE or c.state == "restarting" else ""
    return f"{c.name} {c.state}{exited}{health}{restarts}"


def _healthy(c: Container, expected: Expected) -> bool:
    if c.state != "running":
        return False
    return c.health == "healthy" if (expected.healthcheck or c.health is not None) else True


def assess(
    expected: Mapping[str, Expected],
    containers: Sequence[Container],
    *,
    mode: str = "compose",
    services: Mapping[str, SwarmService] | None = None,
) -> Assessment:
    """Judge one observation of a compose project (``mode`` "compose") or a stack ("stack", with its Swarm ``services``).

    ``waiting``: not there yet (starting, still converging). ``failed``: waiting will not fix it in
    compose mode (a container of another image still running, a container that exited, a service
    the compose file does not declare). In stack mode Swarm is still converging until the deadline,
    except for a service whose image is no longer the one deployed (a rollback).
    """
    if mode not in MODES:
        raise ValueError(f"mode should be one of {', '.join(MODES)}, not {mode!r}")
    stack = mode == "stack"
    ready: dict[str, tuple[Container, ...]] = {}
    waiting: list[Finding] = []
    failed: list[Finding] = []
    for name, want in expected.items():
        mine = [c for c in containers if c.service == name]
        current = [c for c in mine if same_image(c.image, want.image)]
        serving = [c for c in current if not c.one_off]
        stale = [c for c in mine if not same_image(c.image, want.image) and c.state in RUNNING]
        problems: list[Finding] = []
        hard: list[Finding] = []
        if stack and services is not None:
            swarm = services.get(name)
            if swarm is None:
                problems.append(Finding(name, f"a Swarm service {name} running {want.image}", "no such service in the stack"))
            elif not same_image(swarm.image, want.image):
                rolled = f"it runs {swarm.image} again: Swarm rolled the update back"
                hard.append(Finding(name, f"the Swarm service on {want.image}", rolled))
            elif swarm.running < want.replicas or swarm.desired != want.replicas:
                problems.append(Finding(name, f"replicas {want.replicas}/{want.replicas}", f"replicas {swarm.running}/{swarm.desired}"))
        for c in stale:
            what = Finding(name, f"only {want.image} running", f"{c.name} still runs {c.image} ({c.state})", c.id)
            (problems if stack else hard).append(what)
        for c in serving:
            if c.state in GONE and not stack:
                hard.append(Finding(name, "its container running", _seen(c), c.id))
            elif want.healthcheck and c.state == "running" and c.health is None:
                hard.append(Finding(name, "the compose healthcheck on its container", f"{c.name} has no healthcheck", c.id))
            elif not _healthy(c, want):
                problems.append(Finding(name, "healthy" if (want.healthcheck or c.health) else "running", _seen(c), c.id))
        up = [c for c in serving if _healthy(c, want)]
        if not serving and not problems and not hard:
            others = "; ".join(_seen(c) + f" on {c.image}" for c in mine) or "no container"
            problems.append(Finding(name, f"{want.replicas} running container(s) of {want.image or 'the service'}", others))
        elif len(up) < want.replicas and not problems and not hard:
            problems.append(Finding(name, f"{want.replicas} healthy container(s)", f"{len(up)}: " + ", ".join(_seen(c) for c in serving)))
        failed += hard
        waiting += problems
        if not problems and not hard:
            ready[name] = tuple(up)
    for c in containers:
        if c.service is not None and c.service not in expected and c.state in RUNNING:
            what = Finding(c.service, "no such service (not in the compose file)", f"{c.name} running {c.image}", c.id)
            (waiting if stack else failed).append(what)
    return Assessment(ready, tuple(waiting), tuple(failed))


def baseline(assessment: Assessment) -> dict[str, Mark]:
    """container id -> how it was when the stability window began (every ready service's containers)."""
    return {
        c.id: Mark(service, c.name, c.restart_count, c.started_at, c.health) for service, cs in assessment.ready.items() for c in cs
    }


def unstable(
    expected: Mapping[str, Expected],
    marks: Mapping[str, Mark],
    containers: Sequence[Container],
    *,
    mode: str = "compose",
    services: Mapping[str, SwarmService] | None = None,
    window: float = 0.0,
) -> list[Finding]:
    """What changed since the window began: a restart, an exit, a replacement, lost health, or anything ``assess`` objects to."""
    found: list[Finding] = []
    by_id = {c.id: c for c in containers}
    what = f"over the {window:g}s stability window"
    for cid, mark in marks.items():
        c = by_id.get(cid)
        if c is None:
            found.append(Finding(mark.service, f"{mark.name} to keep running {what}", "it was removed or replaced"))
            continue
        if c.restart_count != mark.restart_count or (mark.started_at and c.started_at and c.started_at != mark.started_at):
            now = "running again" if c.state == "running" else f"{c.state}, exit code {c.exit_code}"  # Docker clears ExitCode on start
            seen = f"{c.restart_count} ({c.name} restarted; {now})"
            found.append(Finding(mark.service, f"RestartCount to stay {mark.restart_count} {what}", seen, c.id))
        elif c.state != "running":
            found.append(Finding(mark.service, f"{c.name} running {what}", _seen(c), c.id))
        elif mark.health == "healthy" and c.health != "healthy":
            found.append(Finding(mark.service, f"{c.name} healthy {what}", _seen(c), c.id))
    judged = assess(expected, containers, mode=mode, services=services)
    reported = {f.service for f in found}
    for f in (*judged.failed, *judged.waiting):
        if f.service not in reported:
            found.append(f)
    for name, cs in judged.ready.items():
        fresh = [c for c in cs if c.id not in marks]
        if fresh and name not in reported:
            found.append(Finding(name, f"the same containers {what}", "a new container " + ", ".join(c.name for c in fresh), fresh[0].id))
    return found


def record_of(assessment: Assessment, window: float, containers: Sequence[Container] | None = None) -> dict[str, dict[str, Any]]:
    """The per-service verification record (stack output ``verification``): digest seen, health, restarts, window.

    ``containers`` (the last observation) gives the restart counts at the end of the window; by
    default those seen when the window began.
    """
    latest = {c.id: c for c in containers or ()}
    out: dict[str, dict[str, Any]] = {}
    for service, cs in assessment.ready.items():
        now = [latest.get(c.id, c) for c in cs]
        images = sorted({c.image for c in now})
        healths = sorted({c.health or "none" for c in now})
        out[service] = {
            "digest": ", ".join(digest_of(i) for i in images),
            "image": ", ".join(images),
            "health": ", ".join(healths),
            "restarts": sum(c.restart_count for c in now),
            "replicas": len(now),
            "window_s": float(window),
            "containers": sorted(c.name for c in now),
        }
    return out


def is_verified(records: Mapping[str, Any] | None, digests: Mapping[str, str]) -> bool:
    """Every service of the release was verified running its digest (``core.release.is_verified``: nothing checked = not verified)."""
    records = records or {}
    checks = [isinstance(rec := records.get(s), Mapping) and rec.get("digest") == d for s, d in digests.items()]
    return release.is_verified(bool(records), checks)
