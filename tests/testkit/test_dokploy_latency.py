"""The Dokploy stand-in is as slow and as concurrent as a real v0.30.2 unless told otherwise (latency.py)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from testkit.dokploy import FakeDokploy
from testkit.dokploy.__main__ import main as cli_main
from testkit.dokploy.latency import REQUESTS, Latency, parse_latency
from tests.testkit.test_dokploy_standin import Api, make_compose


@pytest.fixture
def key() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def slow(key: str) -> Iterator[FakeDokploy]:
    with FakeDokploy(api_keys={key}) as srv:  # the default: latency="dokploy"
        yield srv


def timed(call: Callable[[], Any]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


def in_parallel(calls: list[Callable[[], Any]]) -> tuple[float, list[Any]]:
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return time.monotonic() - started, results


def test_requests_take_as_long_as_on_dokploy_by_default_and_no_time_with_latency_zero(slow: FakeDokploy, key: str) -> None:
    api = Api(slow.base_url, key)
    assert timed(lambda: api.ok("GET", "project.all")) >= 0.35  # measured 0.37-0.42 s
    assert timed(lambda: api.ok("POST", "project.create", {"name": "p"})) >= 0.25  # measured 0.27-0.40 s
    assert timed(lambda: requests.get(f"{slow.base_url}/api/health", timeout=5)) < 0.2  # not an API procedure
    with FakeDokploy(api_keys={key}, latency=0) as fast:
        api = Api(fast.base_url, key)
        api.ok("GET", "project.all")  # warm the connection
        assert timed(lambda: api.ok("GET", "project.all")) < 0.1
    with FakeDokploy(api_keys={key}, latency=0.5) as half:
        assert 0.18 <= timed(lambda: Api(half.base_url, key).ok("GET", "project.all")) < 0.35


def test_concurrent_requests_overlap(slow: FakeDokploy, key: str) -> None:
    url, headers = f"{slow.base_url}/api/project.all", {"x-api-key": key}
    elapsed, results = in_parallel([lambda: requests.get(url, headers=headers, timeout=10) for _ in range(4)])
    assert [r.status_code for r in results] == [200] * 4
    assert elapsed < 1.0  # one after the other: >= 4 x 0.37 s


def test_concurrent_find_or_create_makes_two_projects_like_dokploy(slow: FakeDokploy, key: str) -> None:
    def find_or_create() -> str:
        api = Api(slow.base_url, key)
        found = [p for p in api.ok("GET", "project.all") if p["name"] == "shared"]
        return found[0]["projectId"] if found else api.ok("POST", "project.create", {"name": "shared"})["project"]["projectId"]

    _, ids = in_parallel([find_or_create, find_or_create])
    assert len(set(ids)) == 2  # nothing serialises "find, then create"
    _, created = in_parallel([lambda: Api(slow.base_url, key).ok("POST", "project.create", {"name": "same"}) for _ in range(6)])
    listed = Api(slow.base_url, key).ok("GET", "project.all")
    assert [p["name"] for p in listed].count("same") == 6
    assert {c["project"]["projectId"] for c in created} == {p["projectId"] for p in listed if p["name"] == "same"}
    assert len({e["environmentId"] for p in listed for e in p["environments"]}) == 8  # one production environment each


def test_deploy_durations_fit_the_measurements() -> None:
    dokploy = Latency(1.0)
    assert dokploy.deploy_start() == pytest.approx(0.42)
    assert dokploy.deploy_start() + dokploy.deploy_run(1) == pytest.approx(0.97)
    assert dokploy.deploy_start() + dokploy.deploy_run(8) == pytest.approx(2.22)
    assert dokploy.deploy_start() + dokploy.deploy_run(8, unchanged=True) == pytest.approx(0.90)
    assert dokploy.deploy_start() + dokploy.deploy_run(3, stack=True) == pytest.approx(0.50)
    assert Latency(0).deploy_run(8) == 0 and Latency(0).request("project.all", "GET") == 0
    assert all(span.source.startswith(("measured", "estimate")) and span.lo <= span.hi for span in REQUESTS.values())


def test_a_simulated_deploy_runs_as_long_as_its_services_need(key: str) -> None:
    with FakeDokploy(api_keys={key}, latency=0.5) as srv:  # half of Dokploy's times
        api = Api(srv.base_url, key)
        files = {n: "services:\n" + "".join(f"  s{i}:\n    image: x\n" for i in range(n)) for n in (1, 8)}
        took = {}
        for n, text in files.items():
            _, cid = make_compose(api, f"c{n}", text)
            queued = time.monotonic()
            api.ok("POST", "compose.deploy", {"composeId": cid})
            assert srv.wait_idle(10)
            took[n] = time.monotonic() - queued
            row_seen = api.ok("GET", "deployment.allByCompose", composeId=cid)[0]
            assert row_seen["status"] == "done"
        assert 0.45 <= took[1] < took[8] and took[8] >= 1.05  # 0.97/2 and 2.22/2, plus the request itself
        queued = time.monotonic()
        api.ok("POST", "compose.redeploy", {"composeId": cid})  # nothing changed
        assert srv.wait_idle(10)
        assert 0.40 <= time.monotonic() - queued < took[8]


def test_latency_setting_and_cli_flag() -> None:
    assert parse_latency("dokploy").scale == 1.0
    assert parse_latency("off").scale == parse_latency(0).scale == parse_latency("0").scale == 0.0
    assert parse_latency("2.5").scale == 2.5
    for bad in ("fast", "-1", "nan"):
        with pytest.raises(ValueError):
            parse_latency(bad)
    with pytest.raises(SystemExit) as exc:
        cli_main(["--latency", "fast"])
    assert exc.value.code == 2
