"""Transport: the key header, timeouts, error mapping, garbage bodies, retry counts (with `responses`)."""


from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from dokploy_api import (
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
from tests.dokploy_api.conftest import API, BASE, FakeTime, _conn_aborted, _conn_refused, _err


def test_query_sends_key_header_and_query_string_when_get(client: DokployClient, api_key: str, mocked: responses.RequestsMock) -> None:
    mocked.get(
        f"{API}/compose.one",
        json={"composeId": "c1"},
        match=[matchers.header_matcher({"x-api-key": api_key}), matchers.query_param_matcher({"composeId": "c1"})],
    )
    assert client.compose.one("c1") == {"composeId": "c1"}


def test_mutation_posts_json_body_when_post(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{API}/compose.update",
        json={"composeId": "c1", "composeFile": "x"},
        match=[
            matchers.json_params_matcher({"composeId": "c1", "sourceType": "raw", "composeFile": "x"}),
            matchers.header_matcher({"Content-Type": "application/json"}),
        ],
    )
    assert client.compose.update("c1", source_type="raw", composeFile="x")["composeId"] == "c1"


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
        c.project.all()
    with pytest.raises(DokployConnectionError):
        c.compose.deploy("c1")
    assert seen == [((2, 7), False), ((2, 7), False)]


def test_redirect_is_not_followed_when_server_redirects(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/project.all", status=302, headers={"Location": "https://elsewhere.test/api/project.all"})
    with pytest.raises(DokployProtocolError, match=r"project.all: unexpected redirect \(302\) to https://elsewhere.test"):
        client.project.all()
    assert len(mocked.calls) == 1


def test_unauthorized_message_explains_the_four_causes_when_401(
    client: DokployClient, api_key: str, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{API}/project.all", status=401, json={"message": "Unauthorized"})
    with pytest.raises(DokployUnauthorized) as info:
        client.project.all()
    msg = str(info.value)
    assert msg.startswith("project.all: Unauthorized (401): the API key is missing, wrong, expired or rate-limited")
    assert api_key not in msg and info.value.status == 401
    assert len(mocked.calls) == 1  # 401 is never retried


def test_unauthorized_from_a_procedure_keeps_its_message_when_401_envelope(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/compose.one", status=401, json=_err("You are not authorized to access this compose", "UNAUTHORIZED", 401))
    with pytest.raises(DokployUnauthorized, match=r"compose.one: You are not authorized to access this compose \(401\)"):
        client.compose.one("c1")


def test_not_found_carries_dokploy_message_and_procedure_when_404(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/compose.one", status=404, json=_err("Compose not found", "NOT_FOUND", 404, "compose.one"))
    with pytest.raises(DokployNotFound) as info:
        client.compose.one("c1")
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
        client.compose.create("x", "env1", compose_type="bogus")
    assert str(info.value) == (
        'compose.create: Input validation failed (400): composeType: Invalid option: expected one of "docker-compose"|"stack"'
    )
    assert info.value.field_errors == {"composeType": ['Invalid option: expected one of "docker-compose"|"stack"']}


def test_validation_error_uses_zod_field_errors_when_issues_missing(client: DokployClient, mocked: responses.RequestsMock) -> None:
    body = _err("Input validation failed", "BAD_REQUEST", 400)
    body["data"]["zodError"] = {"formErrors": [], "fieldErrors": {"name": ["Required"]}}
    mocked.post(f"{API}/project.create", status=400, json=body)
    with pytest.raises(DokployValidationError, match=r"project.create: Input validation failed \(400\): name: Required"):
        client.project.create("")


@pytest.mark.parametrize(
    ("status", "cls"),
    [(403, DokployForbidden), (409, DokployConflict), (415, DokployError), (500, DokployServerError), (503, DokployServerError)],
)
def test_status_maps_to_error_class_when_enveloped(client: DokployClient, mocked: responses.RequestsMock, status: int, cls: type) -> None:
    mocked.post(f"{API}/compose.deploy", status=status, json=_err("Boom happened", "X", status))
    with pytest.raises(cls) as info:
        client.compose.deploy("c1")
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
        client.compose.delete("c1")
    msg = str(info.value)
    assert msg.startswith("compose.delete: ") and f"({status})" in msg
    assert "\x00" not in msg and len(msg) < 700 and api_key not in msg


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b"{"])
def test_success_with_garbage_body_is_a_protocol_error_when_200(client: DokployClient, mocked: responses.RequestsMock, body: bytes) -> None:
    mocked.get(f"{API}/project.all", status=200, body=body)
    with pytest.raises(DokployProtocolError, match=r"project.all: answer is not JSON \(200\)"):
        client.project.all()


def test_success_with_wrong_shape_is_a_protocol_error_when_object_expected(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/project.all", json={"not": "a list"})
    with pytest.raises(DokployProtocolError, match=r"project\.all: expected a JSON array, got dict"):
        client.project.all()


def test_compose_update_of_unknown_id_is_not_found_when_body_empty(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/compose.update", status=200, body=b"")
    with pytest.raises(DokployNotFound, match=r"compose.update: Compose not found"):
        client.compose.update("nope", name="x")


def test_error_message_never_contains_key_or_request_body_when_server_echoes_them(
    client: DokployClient, api_key: str, mocked: responses.RequestsMock
) -> None:
    env_secret = secrets.token_hex(12)
    client.add_redactions([env_secret])
    mocked.post(f"{API}/compose.saveEnvironment", status=500, json=_err(f"bad key {api_key} env {env_secret}", "X", 500))
    with pytest.raises(DokployServerError) as info:
        client.compose.save_environment("c1", f"DB_PASSWORD={env_secret}")
    assert api_key not in str(info.value) and env_secret not in str(info.value)
    assert "***" in str(info.value)


def test_validation_errors_are_redacted_before_they_are_cut_and_in_field_errors_too(
    client: DokployClient, api_key: str, mocked: responses.RequestsMock
) -> None:
    short = "pw1"  # short secrets are secrets too
    client.add_redactions([short])
    body = _err("Input validation failed", "BAD_REQUEST", 400)
    body["issues"] = [
        {"path": ["name"], "message": "x" * 170 + f" {api_key}"},  # the key straddles the 200-character cut
        {"path": ["env"], "message": f"bad value {short}"},
    ]
    mocked.post(f"{API}/compose.create", status=400, json=body)
    with pytest.raises(DokployValidationError) as info:
        client.compose.create("backend", "e1")
    text = str(info.value) + json.dumps(info.value.field_errors)
    assert not [n for n in range(4, len(api_key) + 1) if api_key[:n] in text], "a prefix of the key survived the cut"
    assert short not in text and "***" in info.value.field_errors["env"][0]


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
    assert client.project.all() == []
    assert len(mocked.calls) == 4
    assert fake_time.sleeps == [0.375, 0.75, 1.5]  # base 0.5*2**n, half fixed + half jitter(0.5)


def test_get_gives_up_after_max_retries_when_gateway_keeps_failing(
    client: DokployClient, fake_time: FakeTime, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback("GET", f"{API}/project.all", callback=_sequence((502, b"<html>Bad Gateway</html>")))
    with pytest.raises(DokployServerError, match=r"project.all: <html>Bad Gateway</html> \(502\)"):
        client.project.all()
    assert len(mocked.calls) == 5 and len(fake_time.sleeps) == 4


def test_backoff_is_capped_and_jittered_when_many_retries(api_key: str, fake_time: FakeTime) -> None:
    for jitter, expected in ((lambda: 0.0, [0.5, 1.0, 2.0, 2.5, 2.5]), (lambda: 1.0, [1.0, 2.0, 4.0, 5.0, 5.0])):
        fake_time.sleeps.clear()
        c = DokployClient(BASE, api_key, max_retries=5, backoff=1.0, max_backoff=5.0, sleep=fake_time.sleep, jitter=jitter)
        with responses.RequestsMock() as rsps:
            rsps.get(f"{API}/project.all", status=503)
            with pytest.raises(DokployServerError):
                c.project.all()
        assert fake_time.sleeps == expected


def test_get_is_not_retried_when_500(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/compose.one", status=500, json=_err("Internal server error", "INTERNAL_SERVER_ERROR", 500))
    with pytest.raises(DokployServerError):
        client.compose.one("c1")
    assert len(mocked.calls) == 1


def test_get_is_retried_when_read_timeout_then_succeeds(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.add_callback(
        "GET", f"{API}/compose.one", callback=_sequence(requests.exceptions.ReadTimeout("slow"), (200, {"composeId": "c1"}))
    )
    assert client.compose.one("c1")["composeId"] == "c1"
    assert len(mocked.calls) == 2


def test_get_is_retried_when_connection_aborted(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.add_callback("GET", f"{API}/compose.one", callback=_sequence(_conn_aborted(), (200, {"composeId": "c1"})))
    assert client.compose.one("c1")["composeId"] == "c1"


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
        client.compose.deploy("c1")
    assert info.value.maybe_sent is True
    assert "the server may have received the request" in str(info.value)
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("exc", [requests.exceptions.ConnectTimeout("connect"), _conn_refused()])
def test_post_is_retried_when_request_surely_not_sent(client: DokployClient, mocked: responses.RequestsMock, exc: Exception) -> None:
    mocked.add_callback(
        "POST", f"{API}/compose.deploy", callback=_sequence(exc, exc, (200, {"success": True, "message": "Deployment queued"}))
    )
    assert client.compose.deploy("c1")["success"] is True
    assert len(mocked.calls) == 3


def test_connect_error_reports_not_sent_when_retries_exhausted(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.add_callback("POST", f"{API}/compose.deploy", callback=_sequence(_conn_refused()))
    with pytest.raises(DokployConnectionError) as info:
        client.compose.deploy("c1")
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
        client.compose.update("c1", name="x")
    assert len(mocked.calls) == 1


def test_idempotent_post_is_not_resent_when_read_timeout(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.add_callback(
        "POST", f"{API}/compose.update", callback=_sequence(requests.exceptions.ReadTimeout("slow"), (200, {"composeId": "c1"}))
    )
    with pytest.raises(DokployConnectionError, match="timed out waiting for the answer"):
        client.compose.update("c1", name="x")
    assert len(mocked.calls) == 1


def test_unauthorized_is_never_retried_when_rate_limited(client: DokployClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{API}/compose.update", status=401, json={"message": "Unauthorized"})
    with pytest.raises(DokployUnauthorized, match="rate-limited"):
        client.compose.update("c1", name="x")
    assert len(mocked.calls) == 1
