"""Answer-shape checks and key spelling shared by the routers (pure)."""

from __future__ import annotations

from typing import Any

from dokploy_api.errors import DokployProtocolError


def as_dict(value: Any, procedure: str) -> dict[str, Any]:
    """The answer as a JSON object, or DokployProtocolError."""
    if not isinstance(value, dict):
        raise DokployProtocolError(f"{procedure}: expected a JSON object, got {type(value).__name__}", procedure=procedure)
    return value


def as_list(value: Any, procedure: str) -> list[Any]:
    """The answer as a JSON array, or DokployProtocolError."""
    if not isinstance(value, list):
        raise DokployProtocolError(f"{procedure}: expected a JSON array, got {type(value).__name__}", procedure=procedure)
    return value


def camel(name: str) -> str:
    """``compose_file`` -> ``composeFile`` (camelCase keys pass through unchanged)."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)
