"""Fixtures of the Dokploy client tests: a fake clock, a key, a client, mocked HTTP (`responses`)."""


from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from dokploy_api import (
    DokployClient,
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


