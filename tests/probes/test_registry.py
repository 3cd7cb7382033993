"""Asking a registry for a manifest: credentials only to the registry's own host over https (loopback excepted)."""

from __future__ import annotations

import pytest
import responses

from core.release import ReleaseError
from probes.registry import credentials_may_go_to, manifest_exists

DIGEST = "sha256:" + "a" * 64
AUTH = ("puller", "ghp_0xDEADBEEF-pull")


@pytest.fixture
def mocked() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps  # type: ignore[misc]


def test_the_bearer_challenge_of_the_registry_itself_is_followed(mocked: responses.RequestsMock) -> None:
    url = f"https://ghcr.io/v2/org/app/manifests/{DIGEST}"
    mocked.head(url, status=401, headers={"WWW-Authenticate": 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="r"'})
    mocked.get("https://ghcr.io/token", json={"token": "t"})
    mocked.head(url, status=200, match=[responses.matchers.header_matcher({"Authorization": "Bearer t"})])
    assert manifest_exists("ghcr.io/org/app", DIGEST, AUTH) is True


@pytest.mark.parametrize("realm", ["https://evil.example/token", "http://ghcr.io/token", "https://ghcr.io.evil.example/token"])
def test_a_challenge_naming_another_host_or_plain_http_gets_no_credentials(mocked: responses.RequestsMock, realm: str) -> None:
    mocked.head(f"https://ghcr.io/v2/org/app/manifests/{DIGEST}", status=401, headers={"WWW-Authenticate": f'Bearer realm="{realm}"'})
    token_calls = mocked.get(realm, json={"token": "stolen"})
    with pytest.raises(ReleaseError, match="credentials are sent only to the registry's own host over https"):
        manifest_exists("ghcr.io/org/app", DIGEST, AUTH)
    assert token_calls.call_count == 0


def test_loopback_registries_may_use_plain_http_and_nothing_else_may() -> None:
    assert credentials_may_go_to("http://127.0.0.1:5000/token", "127.0.0.1:5000")
    assert not credentials_may_go_to("http://localhost.example.com/token", "localhost.example.com")
    assert not credentials_may_go_to("https://127.0.0.1:5000/token", "ghcr.io")
