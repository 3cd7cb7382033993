"""STAND-IN helpers for Pulumi property values on the wire (google.protobuf.Struct).

The engine encodes secrets as ``{SIG_KEY: SECRET_SIG, "value": v}`` and unknown (computed) values
as the string ``UNKNOWN``. Handlers keep the raw (wrapped) values to echo inputs back as outputs,
so secret-ness survives, and work on plain values for everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

Props = dict[str, Any]


def to_dict(struct: struct_pb2.Struct | None) -> Props:
    """Struct -> dict, keeping secret wrappers and unknown sentinels as they are."""
    if struct is None:
        return {}
    return json_format.MessageToDict(struct)


def to_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    """dict -> Struct (None becomes null)."""
    struct = struct_pb2.Struct()
    struct.update(dict(props))
    return struct


def is_secret(value: Any) -> bool:
    """True when ``value`` is a secret wrapper."""
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def is_unknown(value: Any) -> bool:
    """True when ``value`` is the unknown sentinel (or a secret wrapping it)."""
    if is_secret(value):
        return is_unknown(value.get("value"))
    return value == UNKNOWN


def contains_unknown(value: Any) -> bool:
    """True when ``value`` or anything nested in it is unknown."""
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def plain(value: Any) -> Any:
    """Recursively drop secret wrappers."""
    if is_secret(value):
        return plain(value.get("value"))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def secret(value: Any) -> dict[str, Any]:
    """Wrap ``value`` as a secret."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def as_bool(value: Any, default: bool = False) -> bool:
    """Booleans from the wire: real bools, or the strings the SDKs send for provider config."""
    value = plain(value)
    if value is None or is_unknown(value):
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)
