"""The errors the Dokploy client raises: one root, one subclass per condition, one-line messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DokployError(Exception):
    """Root of every error this client raises. ``str()`` is a one-line summary (log tails follow it)."""

    def __init__(
        self,
        message: str,
        *,
        procedure: str | None = None,
        status: int | None = None,
        dokploy_message: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.procedure = procedure
        self.status = status
        self.dokploy_message = dokploy_message
        self.code = code

    def __str__(self) -> str:
        return self.message

    def is_client_error(self) -> bool:
        return self.status is not None and 400 <= self.status < 500

    def is_server_error(self) -> bool:
        return self.status is not None and self.status >= 500


class DokployConfigError(DokployError, ValueError):
    """The client was given something unusable (bad URL, plain http to a remote host, empty key)."""


class DokployUnauthorized(DokployError):
    """401: key missing, wrong, expired or rate-limited (indistinguishable), or no access to the object."""


class DokployForbidden(DokployError):
    """403."""


class DokployNotFound(DokployError):
    """404, or a mutation that matched no row (``compose.update`` answers 200 with an empty body)."""


class DokployConflict(DokployError):
    """409."""


class DokployValidationError(DokployError):
    """400; ``field_errors`` maps a field path to Dokploy's messages for it."""

    def __init__(self, message: str, *, field_errors: Mapping[str, list[str]] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field_errors: dict[str, list[str]] = dict(field_errors or {})


class DokployServerError(DokployError):
    """5xx (after retries, where retries are allowed)."""


class DokployConnectionError(DokployError):
    """No HTTP answer: connection refused, DNS, TLS, timeout. ``maybe_sent`` says whether the server may have acted."""

    def __init__(self, message: str, *, maybe_sent: bool, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.maybe_sent = maybe_sent


class DokployUnreachable(DokployConnectionError):
    """Dokploy did not answer (``kind`` "unreachable") or refused every key while its database was down (``kind``
    "database") for longer than the client's bound; ``seconds``: how long it was tried."""

    def __init__(self, message: str, *, kind: str, seconds: float, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.kind = kind
        self.seconds = seconds


class DokployProtocolError(DokployError):
    """A 2xx answer that is not what Dokploy sends (not JSON, wrong shape) or an unexpected redirect."""


class DokployAmbiguous(DokployError):
    """A name matches more than one object (Dokploy does not enforce unique names); nothing is guessed."""


class DeploymentFailed(DokployError):
    """A deployment ended in ``error`` or ``cancelled``; carries its id, status and the last log lines."""

    def __init__(self, message: str, *, deployment_id: str | None, deployment_status: str, log_tail: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.deployment_id = deployment_id
        self.deployment_status = deployment_status
        self.log_tail = log_tail


class DeploymentTimeout(DeploymentFailed):
    """No new deployment finished within the timeout (the server may still be working on it)."""


class DeploymentLost(DeploymentFailed):
    """Dokploy can no longer finish the deployment: it restarted (its queue is in memory) or its database went away
    while the job ran (``cause``: "restart" or "database"); ``deployment_id`` is None when the job was lost queued."""

    def __init__(self, message: str, *, cause: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.cause = cause
