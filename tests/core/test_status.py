"""core/status.py: what runs, per service, against the last verified release; the drift said plainly."""

from __future__ import annotations

from datetime import UTC, datetime

from core.ledger import sha256_text
from core.status import KnownRelease, ProjectView, last_verified, since, status, table
from core.verification import Container, SwarmService

REPO = "127.0.0.1:5000/shop"
A, B, C = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64
NOW = datetime(2026, 12, 5, 10, 5, 0, tzinfo=UTC)


def compose(web: str, worker: str, *, replicas: int = 1) -> str:
    return (
        f"services:\n  web:\n    image: {REPO}/web@{web}\n    healthcheck:\n      test: [CMD, true]\n"
        f"  worker:\n    image: {REPO}/worker@{worker}\n    deploy:\n      replicas: {replicas}\n"
    )


def release(rid: str, web: str, worker: str, state: str = "verified", **extra: object) -> KnownRelease:
    text = compose(web, worker)
    record = {"id": rid, "manifest": {"web": f"{REPO}/web@{web}", "worker": f"{REPO}/worker@{worker}"},
              "compose": {"backend": {"text": text, "sha256": sha256_text(text)}}, "recorded_at": "2026-12-05T09:00:00Z", **extra}
    return KnownRelease(rid, state, record)


def container(service: str, digest: str, *, n: int = 1, health: str | None = "healthy", state: str = "running", restarts: int = 0,
              started: str = "2026-12-05T10:00:00.123456789Z") -> Container:
    return Container(f"id-{service}-{n}", f"app-{service}-{n}", service, f"{REPO}/{service}@{digest}", state,
                     health if service == "web" else None, restarts, 0, started)


def view(text: str, *containers: Container, **kw: object) -> ProjectView:
    return ProjectView("backend", "compose-app-x1", "compose", text, list(containers), **kw)  # type: ignore[arg-type]


def test_what_runs_is_the_last_verified_release_no_drift() -> None:
    r1 = release("r-000000000001", A, A)
    report = status("staging", [view(compose(A, A), container("web", A), container("worker", A))], [r1])
    assert report.matches and report.drift == [] and report.release == "r-000000000001"
    web, worker = report.services
    assert (web.service, web.project, web.app_name, web.digest, web.release) == ("web", "backend", "compose-app-x1", A, "r-000000000001")
    assert (web.health, web.restarts, web.replicas, web.matches) == ("healthy", 0, "1/1", True)
    assert web.up_since == "2026-12-05T10:00:00.123456789Z"
    assert (worker.health, worker.replicas) == ("running", "1/1")
    lines = table(report, NOW)
    assert lines[0].split() == ["service", "project", "digest", "release", "health", "restarts", "up", "since", "replicas", "routes",
                                "release", "match"]
    assert lines[1].split()[:6] == ["web", "backend", "a" * 12, "r-000000000001", "healthy", "0"]
    assert "2026-12-05 10:00:00Z (5m ago)" in lines[1] and lines[1].endswith("yes")
    assert lines[-1] == "stack staging: runs its last verified release r-000000000001, recorded 2026-12-05T09:00:00Z: no drift"


def test_a_compose_file_changed_in_dokploy_to_another_digest_is_drift_naming_both() -> None:
    """Someone edited the compose file in Dokploy and redeployed: web runs a digest no release of the stack has."""
    r2, r1 = release("r-000000000002", B, A), release("r-000000000001", A, A)
    edited = compose(C, A)
    report = status("staging", [view(edited, container("web", C), container("worker", A))], [r2, r1])
    assert not report.matches
    web, worker = report.services
    assert (web.digest, web.release, web.matches) == (C, "", False)
    assert (worker.release, worker.matches) == ("r-000000000002", True)  # the newest release with that digest
    assert report.drift[0] == (
        "compose project backend (compose-app-x1): its compose file in Dokploy differs from release r-000000000002's "
        f"(sha256 {sha256_text(edited)[:12]}, release {sha256_text(compose(B, A))[:12]}): changed in Dokploy since"
    )
    assert report.drift[1].startswith(f"web: expected only {REPO}/web@{B} running; saw app-web-1 still runs {REPO}/web@{C}")
    lines = table(report, NOW)
    assert lines[1].split()[3:6] == ["none", "of", "this"] and lines[1].endswith("NO")
    assert lines[-3] == "stack staging: DRIFT from its last verified release r-000000000002 (2):"
    assert report.as_json()["matches"] is False and report.as_json()["services"][0]["digest"] == C


def test_an_older_release_running_is_named_and_an_unverified_newer_one_is_not_compared_with() -> None:
    r3 = release("r-000000000003", C, A, state="failed")
    r2, r1 = release("r-000000000002", B, A), release("r-000000000001", A, A)
    assert last_verified([r3, r2, r1]) is r2
    report = status("staging", [view(compose(B, A), container("web", A), container("worker", A))], [r3, r2, r1])
    rows = [(s.service, s.release, s.matches) for s in report.services]
    assert rows == [("web", "r-000000000001", False), ("worker", "r-000000000002", True)]  # the verified one, not the failed r3
    assert report.drift == [f"web: expected only {REPO}/web@{B} running; saw app-web-1 still runs {REPO}/web@{A} (running)"]


def test_unhealthy_restarted_and_missing_services_and_projects_do_not_match() -> None:
    r1 = release("r-000000000001", A, A)
    text = compose(A, A)
    sick = container("web", A, health="unhealthy", restarts=3)
    report = status("staging", [view(text, sick, status="error")], [r1])
    web, worker = report.services
    assert (web.health, web.restarts, web.matches) == ("unhealthy", 3, False)
    assert (worker.digest, worker.health, worker.replicas, worker.up_since) == ("", "no container", "0/1", "")
    assert "compose project backend (compose-app-x1): Dokploy says 'error'" in report.drift
    assert f"worker: expected 1 running container(s) of {REPO}/worker@{A}; saw no container" in report.drift
    gone = status("staging", [], [r1])
    assert gone.drift == ["compose project backend: in release r-000000000001, missing in Dokploy"] and gone.services == []


def test_stack_mode_replicas_come_from_swarm_and_a_stack_without_a_verified_release_says_so() -> None:
    text = compose(A, A, replicas=2)
    swarm = {"web": SwarmService("web", f"{REPO}/web@{A}", 1, 1), "worker": SwarmService("worker", f"{REPO}/worker@{A}", 1, 2)}
    v = ProjectView("backend", "app", "stack", text, [container("web", A), container("worker", A)], swarm)
    report = status("edge", [v], [release("r-000000000001", A, A, state="failed")])
    assert [s.replicas for s in report.services] == ["1/1", "1/2"]
    assert report.release == "" and not report.matches and all(not s.matches and s.drift == [] for s in report.services)
    assert report.drift == ["stack edge has no verified release to compare with (`python -m deployctl releases --stack edge`)"]
    assert table(report, NOW)[-2] == "stack edge: DRIFT from no verified release (1):"


def test_routes_are_a_column_when_the_view_has_them() -> None:
    r1 = release("r-000000000001", A, A)
    report = status("s", [view(compose(A, A), container("web", A), container("worker", A), routes={"web": ["shop.example.com/"]})], [r1])
    assert report.services[0].routes == ["shop.example.com/"]
    assert "shop.example.com/" in table(report, NOW)[1]


def test_since_is_readable_and_tolerant() -> None:
    assert since("2026-12-05T08:04:59.5Z", NOW) == "2026-12-05 08:04:59Z (2h ago)"
    assert since("2026-12-05T10:04:30Z", NOW) == "2026-12-05 10:04:30Z (30s ago)"
    assert since("", NOW) == "-" and since("yesterday", NOW) == "yesterday"
