"""Dokploy going away during a run: the transport waits it out within its bound, records each outage, and tells
a database that is down (401 to every key, settings.health failing) from a key that is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses

from dokploy_api import DokployClient, DokployConnectionError, DokployServerError, DokployUnauthorized, DokployUnreachable
from dokploy_api.outage import DB_DOWN, DB_NO_ANSWER, DB_UNKNOWN, DB_UP, HEALTH_PATH, database_state
from dokploy_api.transport import OUTAGE_POLL
from tests.dokploy_api.conftest import API, BASE, FakeTime, _conn_aborted, _conn_refused, _err

GATE = (401, {"message": "Unauthorized"})
HEALTH_OK = (200, {"result": {"data": {"json": {"status": "ok"}}}})
HEALTH_DOWN = (500, {"error": {"json": {"message": "connect ECONNREFUSED 10.0.1.7:5432", "code": -32603,
                                        "data": {"code": "INTERNAL_SERVER_ERROR", "httpStatus": 500, "path": "settings.health"}}}})


@pytest.fixture
def away(api_key: str, fake_time: FakeTime) -> DokployClient:
    """A client that waits up to 60 s for Dokploy (what the providers build)."""
    return DokployClient(BASE, api_key, sleep=fake_time.sleep, clock=fake_time.clock, jitter=lambda: 0.5,
                         unreachable_timeout=60, unreachable_setting="dokployUnreachableTimeout")


def _until(fake_time: FakeTime, end: float, failure: Any, answer: Any) -> Callable[[Any], Any]:
    """A callback that fails with ``failure`` (an exception, or a (status, body)) until the fake clock reaches ``end``."""

    def callback(_request: Any) -> Any:
        item = failure if fake_time.now < end else answer
        if isinstance(item, BaseException):
            raise item
        status, body = item
        return status, {}, json.dumps(body)

    return callback


def test_a_get_waits_out_a_restart_within_the_bound_and_records_the_outage(
    away: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback("GET", f"{API}/compose.one", callback=_until(fake_time, 1030, _conn_refused(), (200, {"composeId": "c1"})))
    assert away.compose.one("c1") == {"composeId": "c1"}
    assert 1030 <= fake_time.now <= 1030 + OUTAGE_POLL
    assert max(fake_time.sleeps[4:]) <= OUTAGE_POLL  # once the counted retries are used up, Dokploy is asked every 2 s
    [outage] = away.transport.outages.seen
    assert (outage.kind, outage.detail, outage.started) == ("unreachable", "connection refused", 1000.0)
    assert outage.ended == fake_time.now and away.transport.outages.current is None


def test_a_request_fails_naming_the_url_what_the_client_did_and_the_bound_when_dokploy_stays_away(
    away: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback("GET", f"{API}/docker.getContainersByAppNameMatch", callback=_until(fake_time, 10**9, _conn_refused(), None))
    with pytest.raises(DokployUnreachable) as info, away.doing("verifying compose project backend (backend-x1y2z3)"):
        away.docker.containers_by_app_name_match("backend-x1y2z3", "docker-compose")
    assert str(info.value) == (
        "docker.getContainersByAppNameMatch: Dokploy at https://dokploy.test did not answer for 60s while verifying compose project "
        "backend (backend-x1y2z3) (connection refused): it is down or restarting; gave up after 60s (dokployUnreachableTimeout)"
    )
    assert fake_time.now == 1060 and info.value.kind == "unreachable" and away.transport.doing == ""


def test_a_proxys_502_during_a_restart_is_waited_out_for_a_get_but_a_deploy_is_never_resent(
    away: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback("GET", f"{API}/project.all", callback=_until(fake_time, 1020, (502, "Bad Gateway"), (200, [])))
    assert away.project.all() == []
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=_until(fake_time, 10**9, (502, "Bad Gateway"), None))
    with pytest.raises(DokployServerError, match=r"\(502\)"):
        away.compose.deploy("c1")
    assert [c.request.method for c in mocked.calls].count("POST") == 1


def test_a_post_is_resent_once_dokploy_answers_only_when_it_surely_never_left(
    away: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=_until(fake_time, 1025, _conn_refused(), (200, {"success": True})))
    assert away.compose.deploy("c1") == {"success": True}
    mocked.add_callback("POST", f"{API}/compose.delete", callback=_until(fake_time, 10**9, _conn_aborted(), None))
    with pytest.raises(DokployConnectionError, match="connection broken") as info:
        away.compose.delete("c1")
    assert info.value.maybe_sent and not isinstance(info.value, DokployUnreachable)


def test_a_401_while_the_database_is_down_is_waited_out_for_any_request(
    away: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback("GET", f"{BASE}{HEALTH_PATH}", callback=_until(fake_time, 1020, HEALTH_DOWN, HEALTH_OK))
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=_until(fake_time, 1020, GATE, (200, {"success": True})))
    assert away.compose.deploy("c1") == {"success": True}  # the key check runs before the procedure: nothing was deployed
    [outage] = away.transport.outages.seen
    assert (outage.kind, outage.detail) == ("database", "settings.health: connect ECONNREFUSED 10.0.1.7:5432 (500)")
    probes = [c for c in mocked.calls if c.request.url.endswith(HEALTH_PATH)]
    assert probes and all("x-api-key" not in c.request.headers for c in probes)


def test_a_database_down_longer_than_the_bound_fails_naming_it(
    away: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback("GET", f"{BASE}{HEALTH_PATH}", callback=_until(fake_time, 10**9, HEALTH_DOWN, None))
    mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=_until(fake_time, 10**9, GATE, None))
    with pytest.raises(DokployUnreachable) as info:
        away.deployment.all_by_compose("c1")
    assert str(info.value) == (
        "deployment.allByCompose: Dokploy at https://dokploy.test refused every call for 60s (401 Unauthorized: its key check "
        "needs its database, and settings.health: connect ECONNREFUSED 10.0.1.7:5432 (500)): its database is down; "
        "gave up after 60s (dokployUnreachableTimeout)"
    )
    assert (info.value.kind, info.value.status) == ("database", 401)


def test_a_401_with_the_database_up_is_the_key_at_once_and_says_it_was_accepted_before(
    away: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback("GET", f"{BASE}{HEALTH_PATH}", callback=_until(fake_time, 0, None, HEALTH_OK))
    mocked.add_callback("GET", f"{API}/compose.one", callback=_until(fake_time, 0, None, (200, {"composeId": "c1"})))
    mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=_until(fake_time, 0, None, GATE))
    away.compose.one("c1")
    with pytest.raises(DokployUnauthorized) as info:
        away.deployment.all_by_compose("c1")
    assert str(info.value).endswith(
        "; Dokploy accepted this key earlier in this run and its database answers (settings.health answers ok): "
        "the key was deleted, expired or rate-limited since"
    )
    assert fake_time.now == 1000 and not away.transport.outages.seen


@pytest.mark.parametrize("accepted", [True, False])
def test_a_401_that_health_cannot_explain_names_both_causes(
    away: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock, accepted: bool
) -> None:
    mocked.add_callback("GET", f"{BASE}{HEALTH_PATH}", callback=_until(fake_time, 0, None, (404, "Not Found")))
    mocked.add_callback("GET", f"{API}/compose.one", callback=_until(fake_time, 0, None, (200, {"composeId": "c1"})))
    mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=_until(fake_time, 0, None, GATE))
    if accepted:
        away.compose.one("c1")
    with pytest.raises(DokployUnauthorized) as info:
        away.deployment.all_by_compose("c1")
    assert "the API key is missing, wrong, expired or rate-limited" in str(info.value)
    assert str(info.value).endswith("; or Dokploy may be restarting or its database down (settings.health answered 404)")
    assert fake_time.now == (1060 if accepted else 1000)  # a key accepted before is given the bounded wait


def test_a_401_for_an_object_the_key_cannot_see_is_not_the_key_check_and_probes_nothing(
    away: DokployClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{API}/compose.one", status=401, json=_err("You are not authorized to access this compose", "UNAUTHORIZED", 401))
    with pytest.raises(DokployUnauthorized, match="the key has no access to this object"):
        away.compose.one("c1")
    assert len(mocked.calls) == 1


def test_without_a_bound_a_401_is_reported_at_once_as_before(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/compose.one", status=401, json={"message": "Unauthorized"})
    with pytest.raises(DokployUnauthorized, match=r"rate-limited .*a few calls a day\)$"):
        client.compose.one("c1")
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    ("answer", "state"),
    [(HEALTH_OK, DB_UP), (HEALTH_DOWN, DB_DOWN), ((404, "Not Found"), DB_UNKNOWN), ((502, "Bad Gateway"), DB_UNKNOWN),
     (_conn_refused(), DB_NO_ANSWER)],
)
def test_database_state_reads_dokploys_public_health_procedure(mocked: responses.RequestsMock, answer: Any, state: str) -> None:
    mocked.add_callback("GET", f"{BASE}{HEALTH_PATH}", callback=_until(FakeTime(), 10**9, answer, None))
    assert database_state(requests.Session(), BASE, 5)[0] == state
