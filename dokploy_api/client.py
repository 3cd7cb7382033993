"""DokployClient: the transport plus one attribute per Dokploy router (``client.compose.one(...)``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from core.redact import Redactor
from dokploy_api.routers import (
    ComposeApi,
    DeploymentApi,
    DockerApi,
    DomainApi,
    EnvironmentApi,
    OverviewApi,
    ProjectApi,
    RegistryApi,
    ServerApi,
    SwarmApi,
)
from dokploy_api.transport import Transport


class DokployClient:
    """Dokploy REST client: one session, ``x-api-key``, timeouts, safe retries, typed errors.

    ``sleep`` and ``clock`` are also what the deploy flow (``dokploy_api.deploy``) waits with.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        **transport_options: Any,
    ) -> None:
        """``transport_options`` go to Transport: timeout, max_retries, backoff, max_backoff, allow_insecure_http,
        unreachable_timeout, ..."""
        self.transport = Transport(base_url, api_key, sleep=sleep, clock=clock, **transport_options)
        self.sleep = sleep
        self.clock = clock
        self.project = ProjectApi(self.transport)
        self.environment = EnvironmentApi(self.transport)
        self.compose = ComposeApi(self.transport)
        self.deployment = DeploymentApi(self.transport)
        self.registry = RegistryApi(self.transport)
        self.docker = DockerApi(self.transport)
        self.swarm = SwarmApi(self.transport)
        self.server = ServerApi(self.transport)
        self.domain = DomainApi(self.transport)
        self.overview = OverviewApi(self.transport)

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    @property
    def redact(self) -> Redactor:
        """Removes the key and every registered secret value from a text."""
        return self.transport.redact

    def __repr__(self) -> str:
        return f"DokployClient({self.base_url!r}, api_key=***)"

    def __getstate__(self) -> None:
        raise TypeError("DokployClient holds a session and a key: build it where it is used, do not pickle it")

    @contextmanager
    def doing(self, what: str) -> Iterator[None]:
        """Say what the calls inside are for ("verifying compose project backend (app)"): named when Dokploy stays away."""
        before = self.transport.doing
        self.transport.doing = what
        try:
            yield
        finally:
            self.transport.doing = before

    def add_redactions(self, values: Iterable[str]) -> None:
        """Never let these strings (e.g. env values) appear in an error message."""
        self.transport.redact.add(values)

    def query(self, procedure: str, **params: Any) -> Any:
        """Any query procedure (``GET``); see Transport.query."""
        return self.transport.query(procedure, **params)

    def mutate(self, procedure: str, body: dict[str, Any], *, idempotent: bool | None = None) -> Any:
        """Any mutation procedure (``POST``); see Transport.mutate."""
        return self.transport.mutate(procedure, body, idempotent=idempotent)

    def close(self) -> None:
        self.transport.session.close()

    def __enter__(self) -> DokployClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
