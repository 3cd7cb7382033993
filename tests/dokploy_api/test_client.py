"""DokployClient: transport, error mapping, garbage bodies, retry counts, flows (with `responses`)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from dokploy_api.client import (
    DeploymentFailed,
    DeploymentTimeout,
    DokployAmbiguous,
    DokployClient,
    DokployConfigError,
    DokployConflict,
    DokployConnectionError,
    DokployError,
    DokployForbidden,
    DokployNotFound,
    DokployProtocolError,
    DokployServerError,
    DokployUnauthorized,
    DokployValidationError,
    check_base_url,
)

BASE = "https://dokploy.test"
API = f"{BASE}/api"


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def api_key() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(api_key: str, fake_time: FakeTime) -> Iterator[DokployClient]:
    with DokployClient(BASE, api_key, sleep=fake_time.sleep, clock=fake_time.clock, jitter=lambda: 0.5) as c:
        yield c


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _err(message: str, code: str, status: int, path: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"code": code, "httpStatus": status, "zodError": None}
    if path:
        data["path"] = path
    return {"message": message, "code": code, "data": data}


def _conn_refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/api/x", reason))  # type: ignore[arg-type]


def _conn_aborted() -> requests.exceptions.ConnectionError:
    return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")))


# ------------------------------------------------------------------------------------ transport


def test_query_sends_key_header_and_query_string_when_get(client: DokployClient, api_key: str, mocked: responses.RequestsMock) -> None:
    mocked.get(
        f"{API}/compose.one",
        json={"composeId": "c1"},
        match=[matchers.header_matcher({"x-api-key": api_key}), matchers.query_param_matcher({"composeId": "c1"})],
    )
    assert client.compose_one("c1") == {"composeId": "c1"}


def test_mutation_posts_json_body_when_post(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{API}/compose.update",
        json={"composeId": "c1", "composeFile": "x"},
        match=[
            matchers.json_params_matcher({"composeId": "c1", "sourceType": "raw", "composeFile": "x"}),
            matchers.header_matcher({"Content-Type": "application/json"}),
        ],
    )
    assert client.compose_update("c1", source_type="raw", composeFile="x")["composeId"] == "c1"


def test_base_url_is_normalised_when_it_has_api_suffix_or_slash(api_key: str) -> None:
    assert DokployClient("https://d.test/api/", api_key).base_url == "https://d.test"
    assert check_base_url("http://127.0.0.1:3000/") == "http://127.0.0.1:3000"


@pytest.mark.parametrize("url", ["http://dokploy.example.com", "http://10.0.0.5:3000", "http://[2001:db8::1]"])
def test_plain_http_is_refused_when_host_is_not_loopback(url: str, api_key: str) -> None:
    with pytest.raises(DokployConfigError, match=r"refusing plain http:// .* use https:// or set allow_insecure_http=True"):
        DokployClient(url, api_key)
    assert DokployClient(url, api_key, allow_insecure_http=True).base_url == url


@pytest.mark.parametrize("url", ["http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000", "http://127.8.9.1"])
def test_plain_http_is_allowed_when_host_is_loopback(url: str, api_key: str) -> None:
    assert DokployClient(url, api_key).base_url == url


@pytest.mark.parametrize("url", ["", "ftp://d.test", "d.test", "https://", "https://u:p@d.test"])
def test_bad_base_url_is_refused_when_malformed(url: str, api_key: str) -> None:
    with pytest.raises(DokployConfigError, match=r"^dokploy_url: "):
        DokployClient(url, api_key)


def test_empty_key_is_refused_when_constructing() -> None:
    with pytest.raises(DokployConfigError, match="api_key: is required"):
        DokployClient(BASE, "  ")


def test_client_repr_and_pickle_never_expose_the_key(client: DokployClient, api_key: str) -> None:
    assert api_key not in repr(client)
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(client)


def test_every_call_has_a_timeout_when_sent(api_key: str) -> None:
    seen: list[Any] = []

    class Recorder(requests.Session):
        def request(self, method: str, url: str, **kw: Any) -> Any:  # type: ignore[override]
            seen.append((kw.get("timeout"), kw.get("allow_redirects")))
            raise requests.exceptions.InvalidURL("stop")

    c = DokployClient(BASE, api_key, session=Recorder(), timeout=(2, 7), max_retries=0)
    with pytest.raises(DokployConnectionError):
        c.project_all()
    with pytest.raises(DokployConnectionError):
        c.compose_deploy("c1")
    assert seen == [((2, 7), False), ((2, 7), False)]


def test_redirect_is_not_followed_when_server_redirects(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/project.all", status=302, headers={"Location": "https://elsewhere.test/api/project.all"})
    with pytest.raises(DokployProtocolError, match=r"project.all: unexpected redirect \(302\) to https://elsewhere.test"):
        client.project_all()
    assert len(mocked.calls) == 1


# ------------------------------------------------------------------------------------ error mapping


def test_unauthorized_message_explains_the_four_causes_when_401(
    client: DokployClient, api_key: str, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{API}/project.all", status=401, json={"message": "Unauthorized"})
    with pytest.raises(DokployUnauthorized) as info:
        client.project_all()
    msg = str(info.value)
    assert msg.startswith("project.all: Unauthorized (401): the API key is missing, wrong, expired or rate-limited")
    assert api_key not in msg and info.value.status == 401
    assert len(mocked.calls) == 1  # 401 is never retried


def test_unauthorized_from_a_procedure_keeps_its_message_when_401_envelope(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/compose.one", status=401, json=_err("You are not authorized to access this compose", "UNAUTHORIZED", 401))
    with pytest.raises(DokployUnauthorized, match=r"compose.one: You are not authorized to access this compose \(401\)"):
        client.compose_one("c1")


def test_not_found_carries_dokploy_message_and_procedure_when_404(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/compose.one", status=404, json=_err("Compose not found", "NOT_FOUND", 404, "compose.one"))
    with pytest.raises(DokployNotFound) as info:
        client.compose_one("c1")
    assert str(info.value) == "compose.one: Compose not found (404)"
    assert (info.value.procedure, info.value.status, info.value.code) == ("compose.one", 404, "NOT_FOUND")


def test_validation_error_lists_field_errors_when_400(client: DokployClient, mocked: responses.RequestsMock) -> None:
    body = {
        "message": "Input validation failed",
        "code": "BAD_REQUEST",
        "data": {
            "code": "BAD_REQUEST",
            "httpStatus": 400,
            "path": "compose.create",
            "zodError": {"formErrors": [], "fieldErrors": {"composeType": ['Invalid option: expected one of "docker-compose"|"stack"']}},
        },
        "issues": [
            {
                "code": "invalid_value",
                "values": ["docker-compose", "stack"],
                "path": ["composeType"],
                "message": 'Invalid option: expected one of "docker-compose"|"stack"',
            }
        ],
    }
    mocked.post(f"{API}/compose.create", status=400, json=body)
    with pytest.raises(DokployValidationError) as info:
        client.compose_create("x", "env1", compose_type="bogus")
    assert str(info.value) == (
        'compose.create: Input validation failed (400): composeType: Invalid option: expected one of "docker-compose"|"stack"'
    )
    assert info.value.field_errors == {"composeType": ['Invalid option: expected one of "docker-compose"|"stack"']}


def test_validation_error_uses_zod_field_errors_when_issues_missing(client: DokployClient, mocked: responses.RequestsMock) -> None:
    body = _err("Input validation failed", "BAD_REQUEST", 400)
    body["data"]["zodError"] = {"formErrors": [], "fieldErrors": {"name": ["Required"]}}
    mocked.post(f"{API}/project.create", status=400, json=body)
    with pytest.raises(DokployValidationError, match=r"project.create: Input validation failed \(400\): name: Required"):
        client.project_create("")


@pytest.mark.parametrize(
    ("status", "cls"),
    [(403, DokployForbidden), (409, DokployConflict), (415, DokployError), (500, DokployServerError), (503, DokployServerError)],
)
def test_status_maps_to_error_class_when_enveloped(client: DokployClient, mocked: responses.RequestsMock, status: int, cls: type) -> None:
    mocked.post(f"{API}/compose.deploy", status=status, json=_err("Boom happened", "X", status))
    with pytest.raises(cls) as info:
        client.compose_deploy("c1")
    assert str(info.value) == f"compose.deploy: Boom happened ({status})"
    assert type(info.value) is cls


GARBAGE = [
    b"",
    b"{}",
    b"[]",
    b"null",
    b'"a string"',
    b"not json at all",
    b"\xff\xfe\xfa",
    b"\x00\x00\x00",
    b"<html><body>502</body></html>",
    b"{" * 5000,
]


@pytest.mark.parametrize("body", GARBAGE)
@pytest.mark.parametrize(
    ("status", "cls"), [(400, DokployValidationError), (404, DokployNotFound), (500, DokployServerError), (401, DokployUnauthorized)]
)
def test_garbage_error_body_still_maps_status_when_unparseable(
    client: DokployClient, api_key: str, mocked: responses.RequestsMock, body: bytes, status: int, cls: type
) -> None:
    mocked.post(f"{API}/compose.delete", status=status, body=body)
    with pytest.raises(cls) as info:
        client.compose_delete("c1")
    msg = str(info.value)
    assert msg.startswith("compose.delete: ") and f"({status})" in msg
    assert "\x00" not in msg and len(msg) < 700 and api_key not in msg


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b"{"])
def test_success_with_garbage_body_is_a_protocol_error_when_200(client: DokployClient, mocked: responses.RequestsMock, body: bytes) -> None:
    mocked.get(f"{API}/project.all", status=200, body=body)
    with pytest.raises(DokployProtocolError, match=r"project.all: answer is not JSON \(200\)"):
        client.project_all()


def test_success_with_wrong_shape_is_a_protocol_error_when_object_expected(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/project.all", json={"not": "a list"})
    with pytest.raises(DokployProtocolError, match=r"project\.all: expected a JSON array, got dict"):
        client.project_all()


def test_compose_update_of_unknown_id_is_not_found_when_body_empty(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/compose.update", status=200, body=b"")
    with pytest.raises(DokployNotFound, match=r"compose.update: Compose not found"):
        client.compose_update("nope", name="x")


def test_error_message_never_contains_key_or_request_body_when_server_echoes_them(
    client: DokployClient, api_key: str, mocked: responses.RequestsMock
) -> None:
    env_secret = secrets.token_hex(12)
    client.add_redactions([env_secret])
    mocked.post(f"{API}/compose.saveEnvironment", status=500, json=_err(f"bad key {api_key} env {env_secret}", "X", 500))
    with pytest.raises(DokployServerError) as info:
        client.compose_save_environment("c1", f"DB_PASSWORD={env_secret}")
    assert api_key not in str(info.value) and env_secret not in str(info.value)
    assert "***" in str(info.value)


# ------------------------------------------------------------------------------------ retries


def _sequence(*items: Any) -> Callable[[Any], Any]:
    """A responses callback answering the given (status, body) items in order; exceptions are raised."""
    queue = list(items)

    def callback(_request: Any) -> Any:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, BaseException):
            raise item
        status, body = item
        return status, {}, json.dumps(body) if not isinstance(body, bytes | str) else body

    return callback


def test_get_is_retried_with_backoff_when_gateway_errors(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback("GET", f"{API}/project.all", callback=_sequence((502, b"bad gateway"), (503, b""), (504, b""), (200, [])))
    assert client.project_all() == []
    assert len(mocked.calls) == 4
    assert fake_time.sleeps == [0.375, 0.75, 1.5]  # base 0.5*2**n, half fixed + half jitter(0.5)


def test_get_gives_up_after_max_retries_when_gateway_keeps_failing(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback("GET", f"{API}/project.all", callback=_sequence((502, b"<html>Bad Gateway</html>")))
    with pytest.raises(DokployServerError, match=r"project.all: <html>Bad Gateway</html> \(502\)"):
        client.project_all()
    assert len(mocked.calls) == 5 and len(fake_time.sleeps) == 4


def test_backoff_is_capped_and_jittered_when_many_retries(api_key: str, fake_time: FakeTime) -> None:
    for jitter, expected in ((lambda: 0.0, [0.5, 1.0, 2.0, 2.5, 2.5]), (lambda: 1.0, [1.0, 2.0, 4.0, 5.0, 5.0])):
        fake_time.sleeps.clear()
        c = DokployClient(BASE, api_key, max_retries=5, backoff=1.0, max_backoff=5.0, sleep=fake_time.sleep, jitter=jitter)
        with responses.RequestsMock() as rsps:
            rsps.get(f"{API}/project.all", status=503)
            with pytest.raises(DokployServerError):
                c.project_all()
        assert fake_time.sleeps == expected


def test_get_is_not_retried_when_500(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/compose.one", status=500, json=_err("Internal server error", "INTERNAL_SERVER_ERROR", 500))
    with pytest.raises(DokployServerError):
        client.compose_one("c1")
    assert len(mocked.calls) == 1


def test_get_is_retried_when_read_timeout_then_succeeds(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.add_callback(
        "GET", f"{API}/compose.one", callback=_sequence(requests.exceptions.ReadTimeout("slow"), (200, {"composeId": "c1"}))
    )
    assert client.compose_one("c1")["composeId"] == "c1"
    assert len(mocked.calls) == 2


def test_get_is_retried_when_connection_aborted(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.add_callback("GET", f"{API}/compose.one", callback=_sequence(_conn_aborted(), (200, {"composeId": "c1"})))
    assert client.compose_one("c1")["composeId"] == "c1"


@pytest.mark.parametrize("procedure", ["compose.deploy", "compose.redeploy", "compose.create", "project.create", "compose.delete"])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_non_idempotent_post_is_never_resent_when_gateway_error(
    client: DokployClient, mocked: responses.RequestsMock, procedure: str, status: int
) -> None:
    mocked.post(f"{API}/{procedure}", status=status, body=b"upstream error")
    with pytest.raises(DokployServerError, match=rf"{procedure}: upstream error \({status}\)"):
        client.mutate(procedure, {"composeId": "c1"})
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("exc", [requests.exceptions.ReadTimeout("slow"), _conn_aborted()])
def test_non_idempotent_post_is_never_resent_when_request_may_have_arrived(
    client: DokployClient, mocked: responses.RequestsMock, exc: Exception
) -> None:
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=_sequence(exc, (200, {"success": True})))
    with pytest.raises(DokployConnectionError) as info:
        client.compose_deploy("c1")
    assert info.value.maybe_sent is True
    assert "the server may have received the request" in str(info.value)
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("exc", [requests.exceptions.ConnectTimeout("connect"), _conn_refused()])
def test_post_is_retried_when_request_surely_not_sent(client: DokployClient, mocked: responses.RequestsMock, exc: Exception) -> None:
    mocked.add_callback(
        "POST", f"{API}/compose.deploy", callback=_sequence(exc, exc, (200, {"success": True, "message": "Deployment queued"}))
    )
    assert client.compose_deploy("c1")["success"] is True
    assert len(mocked.calls) == 3


def test_connect_error_reports_not_sent_when_retries_exhausted(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=_sequence(_conn_refused()))
    with pytest.raises(DokployConnectionError) as info:
        client.compose_deploy("c1")
    assert str(info.value) == "compose.deploy: could not connect (https://dokploy.test) after 5 attempts"
    assert info.value.maybe_sent is False and len(mocked.calls) == 5


@pytest.mark.parametrize("procedure", ["compose.update", "compose.saveEnvironment", "registry.update"])
def test_idempotent_post_is_retried_when_gateway_error(client: DokployClient, mocked: responses.RequestsMock, procedure: str) -> None:
    mocked.add_callback("POST", f"{API}/{procedure}", callback=_sequence((502, b""), (200, True)))
    assert client.mutate(procedure, {"composeId": "c1"}) is True
    assert len(mocked.calls) == 2


def test_idempotent_post_is_not_retried_when_500(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/compose.update", status=500, json=_err("Internal server error", "INTERNAL_SERVER_ERROR", 500))
    with pytest.raises(DokployServerError):
        client.compose_update("c1", name="x")
    assert len(mocked.calls) == 1


def test_idempotent_post_is_not_resent_when_read_timeout(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.add_callback(
        "POST", f"{API}/compose.update", callback=_sequence(requests.exceptions.ReadTimeout("slow"), (200, {"composeId": "c1"}))
    )
    with pytest.raises(DokployConnectionError, match="timed out waiting for the answer"):
        client.compose_update("c1", name="x")
    assert len(mocked.calls) == 1


def test_unauthorized_is_never_retried_when_rate_limited(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/compose.update", status=401, json={"message": "Unauthorized"})
    with pytest.raises(DokployUnauthorized, match="rate-limited"):
        client.compose_update("c1", name="x")
    assert len(mocked.calls) == 1


# ------------------------------------------------------------------------------------ flows


def _project(pid: str, name: str, envs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"projectId": pid, "name": name, "environments": envs}


def test_find_or_create_project_refuses_to_guess_when_two_share_a_name(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/project.all", json=[_project("p1", "bizosaas", []), _project("p2", "bizosaas", []), _project("p3", "x", [])])
    with pytest.raises(DokployAmbiguous, match=r"2 projects are named 'bizosaas' \(p1, p2\)"):
        client.find_or_create_project("bizosaas")
    assert not [c for c in mocked.calls if c.request.method == "POST"]


def test_find_or_create_project_returns_existing_when_one_matches(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/project.all", json=[_project("p1", "bizosaas", [{"environmentId": "e1", "name": "production", "isDefault": True}])])
    assert client.find_or_create_project("bizosaas")["projectId"] == "p1"


def test_find_or_create_project_creates_with_production_env_when_missing(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/project.all", json=[])
    created = {
        "project": {"projectId": "p9", "name": "new"},
        "environment": {"environmentId": "e9", "name": "production", "isDefault": True},
    }
    mocked.post(f"{API}/project.create", json=created, match=[matchers.json_params_matcher({"name": "new"})])
    project = client.find_or_create_project("new")
    assert project["projectId"] == "p9"
    assert client.find_or_create_environment(project, "production")["environmentId"] == "e9"


def test_find_or_create_environment_uses_default_env_when_production(client: DokployClient) -> None:
    project = _project(
        "p1", "x", [{"environmentId": "e2", "name": "staging"}, {"environmentId": "e1", "name": "prod-renamed", "isDefault": True}]
    )
    assert client.find_or_create_environment(project, "production")["environmentId"] == "e1"
    assert client.find_or_create_environment(project, "staging")["environmentId"] == "e2"


def test_find_or_create_environment_creates_when_missing(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{API}/environment.create",
        json={"environmentId": "e3", "name": "qa"},
        match=[matchers.json_params_matcher({"projectId": "p1", "name": "qa"})],
    )
    assert client.find_or_create_environment(_project("p1", "x", []), "qa")["environmentId"] == "e3"


def test_find_compose_matches_by_name_when_environment_has_several(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(
        f"{API}/environment.one", json={"compose": [{"composeId": "c1", "name": "backend"}, {"composeId": "c2", "name": "frontend"}]}
    )
    assert client.find_compose("e1", "frontend")["composeId"] == "c2"
    assert client.find_compose("e1", "nope") is None


def test_find_compose_refuses_to_guess_when_names_collide(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/environment.one", json={"compose": [{"composeId": "c1", "name": "backend"}, {"composeId": "c2", "name": "backend"}]})
    with pytest.raises(DokployAmbiguous, match="2 composes are named 'backend'"):
        client.find_compose("e1", "backend")


class DeployScript:
    """Scripted deployment history: `steps` is what allByCompose shows after the deploy call, poll by poll."""

    def __init__(
        self, mocked: responses.RequestsMock, before: list[dict[str, Any]], steps: list[list[dict[str, Any]]], logs: str = ""
    ) -> None:
        self.before = before
        self.steps = steps
        self.deployed = 0
        self.polls = 0
        mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=self.all_by_compose)
        mocked.add_callback("GET", f"{API}/deployment.readLogs", callback=lambda _r: (200, {}, json.dumps(logs)))

    def all_by_compose(self, _request: Any) -> Any:
        if not self.deployed:
            return 200, {}, json.dumps(self.before)
        self.polls += 1
        rows = self.steps[min(self.polls, len(self.steps)) - 1]
        return 200, {}, json.dumps(rows + self.before)

    def deploy(self, status: int = 200) -> Callable[[Any], Any]:
        def callback(_request: Any) -> Any:
            self.deployed += 1
            return status, {}, json.dumps({"success": True, "message": "Deployment queued", "composeId": "c1"})

        return callback


def _dep(dep_id: str, status: str, title: str = "t") -> dict[str, Any]:
    return {"deploymentId": dep_id, "status": status, "title": title, "finishedAt": None if status == "running" else "2026-01-01T00:00:00Z"}


def test_deploy_and_wait_ignores_previous_deployments_when_polling(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[_dep("old", "done")], steps=[[], [_dep("new", "running")], [_dep("new", "done")]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    row = client.deploy_and_wait("c1", title="t", timeout=60, poll_interval=2)
    assert row["deploymentId"] == "new" and script.deployed == 1
    assert fake_time.sleeps == [2, 2]


def test_deploy_and_wait_raises_with_log_tail_when_deployment_errors(
    client: DokployClient, api_key: str, mocked: responses.RequestsMock
) -> None:
    log = "\n".join(f"line {i}" for i in range(100)) + f"\nError: pull access denied {api_key}"
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")], [_dep("d1", "error")]], logs=log)
    mocked.add_callback("POST", f"{API}/compose.redeploy", callback=script.deploy())
    with pytest.raises(DeploymentFailed) as info:
        client.deploy_and_wait("c1", redeploy=True, title="t", timeout=60, poll_interval=1, log_lines=5)
    err = info.value
    assert type(err) is DeploymentFailed
    assert (err.deployment_id, err.deployment_status) == ("d1", "error")
    assert str(err).startswith("compose.redeploy: deployment d1 of compose c1 ended 'error'; last log lines:")
    assert "Error: pull access denied ***" in str(err) and "line 96" in str(err) and "line 94" not in str(err)
    assert api_key not in str(err) and api_key not in err.log_tail


def test_deploy_and_wait_reports_cancelled_when_server_restarted(client: DokployClient, mocked: responses.RequestsMock) -> None:
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")], [_dep("d1", "cancelled")]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentFailed, match=r"ended 'cancelled'; the deployment log is empty"):
        client.deploy_and_wait("c1", timeout=60, poll_interval=1)


def test_deploy_and_wait_times_out_with_log_when_stuck_running(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[], steps=[[_dep("d1", "running")]], logs="Pulling web\nWaiting for healthy")
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentTimeout) as info:
        client.deploy_and_wait("c1", timeout=30, poll_interval=4)
    assert "deployment d1 of compose c1 still 'running' after 30s (Dokploy keeps running it)" in str(info.value)
    assert "Waiting for healthy" in str(info.value) and info.value.deployment_id == "d1"
    assert script.deployed == 1 and fake_time.now - 1000.0 == 30


def test_deploy_and_wait_times_out_when_no_deployment_starts(client: DokployClient, mocked: responses.RequestsMock) -> None:
    script = DeployScript(mocked, before=[_dep("old", "done")], steps=[[]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy())
    with pytest.raises(DeploymentTimeout, match=r"no deployment of compose c1 started within 10s"):
        client.deploy_and_wait("c1", timeout=10, poll_interval=3)


def test_deploy_and_wait_follows_queued_deploy_when_answer_was_lost(client: DokployClient, mocked: responses.RequestsMock) -> None:
    script = DeployScript(mocked, before=[], steps=[[], [_dep("d1", "running")], [_dep("d1", "done")]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy(status=502))
    assert client.deploy_and_wait("c1", timeout=600, poll_interval=1)["deploymentId"] == "d1"
    assert script.deployed == 1


def test_deploy_and_wait_never_resends_when_deploy_failed_and_nothing_queued(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    script = DeployScript(mocked, before=[], steps=[[]])
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=script.deploy(status=502))
    with pytest.raises(DokployServerError, match=r"compose.deploy: .*\(502\); no deployment appeared within 5s, so nothing was deployed"):
        client.deploy_and_wait("c1", timeout=600, poll_interval=1, unsure_grace=5)
    assert script.deployed == 1 and fake_time.now - 1000.0 == 5


def test_deploy_and_wait_raises_at_once_when_deploy_is_rejected(client: DokployClient, mocked: responses.RequestsMock) -> None:
    DeployScript(mocked, before=[], steps=[[]])
    mocked.post(f"{API}/compose.deploy", status=404, json=_err("Compose not found", "NOT_FOUND", 404))
    with pytest.raises(DokployNotFound, match=r"compose.deploy: Compose not found \(404\)"):
        client.deploy_and_wait("c1", timeout=600)


def test_deploy_and_wait_keeps_polling_when_a_poll_fails_transiently(client: DokployClient, mocked: responses.RequestsMock) -> None:
    polls = iter([(500, b"oops"), (200, [_dep("d1", "running")]), (200, [_dep("d1", "done")])])
    calls = {"n": 0}

    def all_by_compose(_request: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return 200, {}, "[]"
        status, body = next(polls)
        return status, {}, body if isinstance(body, bytes) else json.dumps(body)

    mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=all_by_compose)
    mocked.post(f"{API}/compose.deploy", json={"success": True})
    assert client.deploy_and_wait("c1", timeout=60, poll_interval=1)["deploymentId"] == "d1"


def test_deploy_and_wait_stops_when_key_rejected_while_polling(client: DokployClient, mocked: responses.RequestsMock) -> None:
    answers = iter([(200, b"[]"), (401, b'{"message":"Unauthorized"}')])
    mocked.add_callback("GET", f"{API}/deployment.allByCompose", callback=lambda _r: (lambda s, b: (s, {}, b))(*next(answers)))
    mocked.post(f"{API}/compose.deploy", json={"success": True})
    with pytest.raises(DokployUnauthorized):
        client.deploy_and_wait("c1", timeout=60, poll_interval=1)


def test_registry_create_sends_cloud_type_and_null_prefix_when_called(client: DokployClient, mocked: responses.RequestsMock) -> None:
    expected = {
        "registryName": "ghcr",
        "registryUrl": "ghcr.io",
        "username": "me",
        "password": "pw",
        "registryType": "cloud",
        "imagePrefix": None,
    }
    mocked.post(f"{API}/registry.create", json={"registryId": "r1"}, match=[matchers.json_params_matcher(expected)])
    assert client.registry_create("ghcr", "ghcr.io", "me", "pw")["registryId"] == "r1"


def test_read_logs_returns_empty_string_when_answer_is_not_text(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/deployment.readLogs", body=b"", match=[matchers.query_param_matcher({"deploymentId": "d1", "tail": "50"})])
    assert client.deployment_read_logs("d1", tail=50) == ""
