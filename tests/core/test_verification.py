"""core.verification: what an observation of a compose project or a stack means, one table row per case."""

from __future__ import annotations

from typing import Any

import pytest

from core.verification import (
    Container,
    Expected,
    SwarmService,
    assess,
    baseline,
    container_from_inspect,
    digest_of,
    expected_services,
    is_verified,
    record_of,
    same_image,
    swarm_services,
    unstable,
)

NEW = "127.0.0.1:5000/shop/web@sha256:" + "b" * 64
OLD = "127.0.0.1:5000/shop/web@sha256:" + "a" * 64
API_IMAGE = "127.0.0.1:5000/shop/api@sha256:" + "c" * 64
WEB = {"web": Expected(NEW, healthcheck=True)}


def box(name: str = "app-web-1", *, service: str | None = "web", image: str = NEW, state: str = "running", health: str | None = "healthy",
        restarts: int = 0, exit_code: int = 0, started: str = "t0", one_off: bool = False, cid: str | None = None) -> Container:
    return Container(cid or f"id-{name}", name, service, image, state, health, restarts, exit_code, started, one_off)


# -- assess: one observation, compose mode -------------------------------------------------------

ASSESS_CASES: list[tuple[str, dict[str, Expected], list[Container], list[str], list[str]]] = [
    # (case, expected, containers, waiting, failed): each finding as "service: expected ...; saw ..."
    ("healthy", WEB, [box()], [], []),
    ("still starting", WEB, [box(health="starting")], ["web: expected healthy; saw app-web-1 running, starting"], []),
    ("unhealthy may recover", WEB, [box(health="unhealthy")], ["web: expected healthy; saw app-web-1 running, unhealthy"], []),
    ("restarting", WEB, [box(state="restarting", health="starting", restarts=2, exit_code=1)],
     ["web: expected healthy; saw app-web-1 restarting with code 1, starting, RestartCount 2"], []),
    ("nothing runs", WEB, [], [f"web: expected 1 running container(s) of {NEW}; saw no container"], []),
    ("only an old one runs", WEB, [box(image=OLD)], [],
     [f"web: expected only {NEW} running; saw app-web-1 still runs {OLD} (running)"]),
    ("an old one is left over beside the new one", WEB, [box(), box("app-web-run-1f", image=OLD, health=None, one_off=True)], [],
     [f"web: expected only {NEW} running; saw app-web-run-1f still runs {OLD} (running)"]),
    ("an old one that exited is not serving", WEB, [box(), box("app-web-old", image=OLD, state="exited", exit_code=137)], [], []),
    ("a finished one-off run of the new image is ignored", WEB, [box(), box("app-web-run-2", state="exited", health=None, one_off=True)],
     [], []),
    ("the new container exited", WEB, [box(state="exited", health="unhealthy", exit_code=1)], [],
     ["web: expected its container running; saw app-web-1 exited with code 1, unhealthy"]),
    ("no healthcheck although the compose file has one", WEB, [box(health=None)], [],
     ["web: expected the compose healthcheck on its container; saw app-web-1 has no healthcheck"]),
    ("no healthcheck in the compose file: running is enough", {"web": Expected(NEW)}, [box(health=None)], [], []),
    ("a service the compose file does not declare", WEB, [box(), box("app-cron-1", service="cron", image="x:1", health=None)], [],
     ["cron: expected no such service (not in the compose file); saw app-cron-1 running x:1"]),
    ("two replicas, one still starting", {"web": Expected(NEW, replicas=2, healthcheck=True)}, [box(), box("app-web-2", health="starting")],
     ["web: expected healthy; saw app-web-2 running, starting"], []),
    ("two replicas, only one exists", {"web": Expected(NEW, replicas=2, healthcheck=True)}, [box()],
     ["web: expected 2 healthy container(s); saw 1: app-web-1 running, healthy"], []),
    ("two services, one missing", {**WEB, "api": Expected(API_IMAGE)}, [box()],
     [f"api: expected 1 running container(s) of {API_IMAGE}; saw no container"], []),
]


@pytest.mark.parametrize(("case", "expected", "containers", "waiting", "failed"), ASSESS_CASES, ids=[c[0] for c in ASSESS_CASES])
def test_assess_in_compose_mode(case: str, expected: dict[str, Expected], containers: list[Container], waiting: list[str],
                                failed: list[str]) -> None:
    judged = assess(expected, containers)
    assert [f.describe() for f in judged.waiting] == waiting
    assert [f.describe() for f in judged.failed] == failed
    assert judged.done is (not waiting and not failed)
    if judged.done:
        assert set(judged.ready) == set(expected)


def test_findings_point_at_the_container_whose_log_explains_them() -> None:
    judged = assess(WEB, [box(cid="full-id-of-web", state="exited", exit_code=3)])
    assert [f.container for f in judged.failed] == ["full-id-of-web"]


# -- assess: stack mode ----------------------------------------------------------------------------

STACK = {"web": Expected(NEW, replicas=2, healthcheck=True)}
TWO = [box("app_web.1.t1", cid="c1"), box("app_web.2.t2", cid="c2")]

STACK_CASES: list[tuple[str, list[Container], dict[str, SwarmService], list[str], list[str]]] = [
    ("converged", TWO, {"web": SwarmService("web", NEW, 2, 2)}, [], []),
    ("replicas still coming up", TWO[:1], {"web": SwarmService("web", NEW, 1, 2)},
     ["web: expected replicas 2/2; saw replicas 1/2"], []),
    ("an old task not shut down yet is waited for", [*TWO, box("app_web.1.t0", image=OLD, cid="c0")],
     {"web": SwarmService("web", NEW, 2, 2)}, [f"web: expected only {NEW} running; saw app_web.1.t0 still runs {OLD} (running)"], []),
    ("Swarm rolled the service back", [box("app_web.1.t3", image=OLD, cid="c3")], {"web": SwarmService("web", OLD, 2, 2)},
     [f"web: expected only {NEW} running; saw app_web.1.t3 still runs {OLD} (running)"],
     [f"web: expected the Swarm service on {NEW}; saw it runs {OLD} (rolled back?)"]),
    ("no such Swarm service", [], {}, ["web: expected a Swarm service web running " + NEW + "; saw no such service in the stack"], []),
]


@pytest.mark.parametrize(("case", "containers", "services", "waiting", "failed"), STACK_CASES, ids=[c[0] for c in STACK_CASES])
def test_assess_in_stack_mode(case: str, containers: list[Container], services: dict[str, SwarmService], waiting: list[str],
                              failed: list[str]) -> None:
    judged = assess(STACK, containers, mode="stack", services=services)
    assert [f.describe() for f in judged.waiting] == waiting
    assert [f.describe() for f in judged.failed] == failed


def test_assess_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode should be one of compose, stack"):
        assess(WEB, [], mode="swarm")


# -- the stability window --------------------------------------------------------------------------

UNSTABLE_CASES: list[tuple[str, list[Container], list[str]]] = [
    ("nothing changed", [box(restarts=1)], []),
    ("restarted (RestartCount)", [box(restarts=2, health="starting")],
     ["web: expected RestartCount to stay 1 over the 5s stability window; saw 2 (app-web-1 restarted; running again)"]),
    ("restarted (StartedAt), e.g. after a docker restart", [box(restarts=1, started="t1")],
     ["web: expected RestartCount to stay 1 over the 5s stability window; saw 1 (app-web-1 restarted; running again)"]),
    ("exited", [box(restarts=1, state="exited", exit_code=1, health="unhealthy")],
     ["web: expected app-web-1 running over the 5s stability window; saw app-web-1 exited with code 1, unhealthy, RestartCount 1"]),
    ("turned unhealthy", [box(restarts=1, health="unhealthy")],
     ["web: expected app-web-1 healthy over the 5s stability window; saw app-web-1 running, unhealthy, RestartCount 1"]),
    ("removed", [], ["web: expected app-web-1 to keep running over the 5s stability window; saw it was removed or replaced"]),
    ("replaced by a new container", [box("app-web-1", cid="another-id")],
     ["web: expected app-web-1 to keep running over the 5s stability window; saw it was removed or replaced"]),
    ("an old one appears", [box(restarts=1), box("app-web-run-9", image=OLD, one_off=True, health=None)],
     [f"web: expected only {NEW} running; saw app-web-run-9 still runs {OLD} (running)"]),
]


@pytest.mark.parametrize(("case", "later", "findings"), UNSTABLE_CASES, ids=[c[0] for c in UNSTABLE_CASES])
def test_unstable_compares_with_the_start_of_the_window(case: str, later: list[Container], findings: list[str]) -> None:
    marks = baseline(assess(WEB, [box(restarts=1)]))
    assert [f.describe() for f in unstable(WEB, marks, later, window=5)] == findings


def test_a_second_replica_appearing_during_the_window_is_a_change() -> None:
    two = {"web": Expected(NEW, replicas=1, healthcheck=True)}
    marks = baseline(assess(two, [box()]))
    found = unstable(two, marks, [box(), box("app-web-2")], window=3)
    assert [f.describe() for f in found] == [
        "web: expected the same containers over the 3s stability window; saw a new container app-web-2"
    ]


def test_a_swarm_rollback_during_the_window_fails_it() -> None:
    services = {"web": SwarmService("web", NEW, 2, 2)}
    marks = baseline(assess(STACK, TWO, mode="stack", services=services))
    rolled = {"web": SwarmService("web", OLD, 2, 2)}
    found = unstable(STACK, marks, TWO, mode="stack", services=rolled, window=30)
    assert [f.describe() for f in found] == [f"web: expected the Swarm service on {NEW}; saw it runs {OLD} (rolled back?)"]


# -- records ----------------------------------------------------------------------------------------


def test_record_names_digest_health_restarts_window_and_containers() -> None:
    judged = assess({**WEB, "api": Expected(API_IMAGE)}, [box(restarts=1), box("app-api-1", service="api", image=API_IMAGE, health=None)])
    record = record_of(judged, 30, [box(restarts=1)])
    assert record == {
        "web": {"digest": "sha256:" + "b" * 64, "image": NEW, "health": "healthy", "restarts": 1, "replicas": 1, "window_s": 30.0,
                "containers": ["app-web-1"]},
        "api": {"digest": "sha256:" + "c" * 64, "image": API_IMAGE, "health": "none", "restarts": 0, "replicas": 1, "window_s": 30.0,
                "containers": ["app-api-1"]},
    }


@pytest.mark.parametrize(
    ("records", "digests", "verified"),
    [
        ({}, {"web": "sha256:" + "b" * 64}, False),  # nothing checked is not verified
        ({"web": {"digest": "sha256:" + "b" * 64}}, {}, False),
        ({"web": {"digest": "sha256:" + "b" * 64}}, {"web": "sha256:" + "b" * 64}, True),
        ({"web": {"digest": "sha256:" + "a" * 64}}, {"web": "sha256:" + "b" * 64}, False),  # verified another release
        ({"web": {"digest": "sha256:" + "b" * 64}}, {"web": "sha256:" + "b" * 64, "api": "sha256:" + "c" * 64}, False),
        (None, {"web": "sha256:" + "b" * 64}, False),
    ],
)
def test_a_release_is_verified_only_when_every_service_was_seen_on_its_digest(
    records: dict[str, Any] | None, digests: dict[str, str], verified: bool
) -> None:
    assert is_verified(records, digests) is verified


# -- parsing -------------------------------------------------------------------------------------


def test_expected_services_come_from_the_compose_file() -> None:
    text = (
        "services:\n"
        f"  web:\n    image: {NEW}\n    healthcheck:\n      test: [CMD, wget, -q, http://127.0.0.1/health]\n"
        f"  api:\n    image: {API_IMAGE}\n    deploy:\n      replicas: 3\n    healthcheck:\n      disable: true\n"
        "  worker:\n    image: shop/worker:1\n    scale: 2\n    healthcheck:\n      test: [NONE]\n"
        "  built:\n    build: .\n"
    )
    assert expected_services(text) == {
        "web": Expected(NEW, 1, True),
        "api": Expected(API_IMAGE, 3, False),
        "worker": Expected("shop/worker:1", 2, False),
        "built": Expected("", 1, False),
    }
    for bad in ("", "services: {}\n", "[1, 2]\n", "services: [\n"):
        with pytest.raises(ValueError, match=r"no services|not YAML"):
            expected_services(bad)


def test_containers_are_read_from_their_inspect_objects() -> None:
    compose = {
        "Id": "f" * 64, "Name": "/app-web-1", "RestartCount": 2,
        "State": {"Status": "running", "ExitCode": 0, "StartedAt": "2026-01-01T00:00:00Z", "Health": {"Status": "healthy"}},
        "Config": {"Image": NEW, "Env": ["DATABASE_URL=postgres://u:secret@db/app"],
                   "Labels": {"com.docker.compose.service": "web", "com.docker.compose.oneoff": "False"}},
    }
    c = container_from_inspect(compose, "app")
    assert c == Container("f" * 64, "app-web-1", "web", NEW, "running", "healthy", 2, 0, "2026-01-01T00:00:00Z", False)
    assert "secret" not in repr(c)  # the environment is never kept
    task = {"Id": "e" * 64, "Name": "/app_web.1.xyz", "State": {"Status": "running"},
            "Config": {"Image": NEW, "Labels": {"com.docker.swarm.service.name": "app_web"}}}
    assert container_from_inspect(task, "app").service == "web"
    assert container_from_inspect({}, "app") == Container("", "", None, "", "unknown", None)


def test_swarm_services_of_one_stack_only() -> None:
    rows = [
        {"ID": "1", "Image": NEW, "Mode": "replicated", "Name": "app_web", "Ports": "", "Replicas": "1/2"},
        {"ID": "2", "Image": OLD, "Mode": "replicated", "Name": "other_web", "Ports": "", "Replicas": "1/1"},
        {"ID": "3", "Image": NEW, "Mode": "replicated", "Name": "app_api", "Ports": "", "Replicas": "2/2 (max 1 per node)"},
    ]
    assert swarm_services(rows, "app") == {"web": SwarmService("web", NEW, 1, 2), "api": SwarmService("api", NEW, 2, 2)}


@pytest.mark.parametrize(
    ("seen", "expected", "same"),
    [
        (NEW, NEW, True),
        (OLD, NEW, False),
        (NEW.replace("@", ":staging@"), NEW, True),  # a tag beside the digest changes nothing
        (NEW.replace("shop/web", "shop/api"), NEW, False),  # same digest, another repository
        ("127.0.0.1:5000/shop/web:staging", NEW, False),  # a tag is not the digest
        ("nginx:1.27-alpine", "nginx:1.27-alpine", True),
        ("docker.io/library/nginx:1.27-alpine", "nginx:1.27-alpine", True),
        ("nginx:1.26-alpine", "nginx:1.27-alpine", False),
        ("anything", "", True),  # nothing to compare with (a service Dokploy builds)
    ],
)
def test_same_image(seen: str, expected: str, same: bool) -> None:
    assert same_image(seen, expected) is same
    assert digest_of(NEW) == "sha256:" + "b" * 64 and digest_of("nginx:1") == "nginx:1"

