"""Loopback detection, parsed (not a string prefix): the one helper every host check uses."""

from __future__ import annotations

import pytest

from core.hosts import is_loopback, registry_scheme


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "api.localhost",
        "127.0.0.1",
        "127.8.9.10:5000",
        "[::1]:5000",
        "::1",
        "http://127.0.0.1:3999",
        "localhost:80",
    ],
)
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["localhost.example.com", "127.example.com", "127.0.0.1.nip.io", "ghcr.io", "10.0.0.1", "", "http://localhost.evil.test/x"]
)
def test_names_that_only_look_like_loopback_are_not(host: str) -> None:
    assert not is_loopback(host)


def test_a_registry_is_reached_over_https_unless_it_is_on_loopback() -> None:
    assert (registry_scheme("127.0.0.1:5000"), registry_scheme("localhost.example.com:5000"), registry_scheme("ghcr.io")) == (
        "http",
        "https",
        "https",
    )
