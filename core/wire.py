"""Pulumi's wire-format markers (secret envelopes, unknown values), as the engine sends them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
"""The key that marks a secret envelope: ``{SECRET_SIG_KEY: SECRET_SIG, "value": ...}``."""
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's "known after apply" value in previews."""


def is_secret_envelope(value: Any) -> bool:
    """Whether a value is a secret envelope (whatever it holds)."""
    return isinstance(value, Mapping) and SECRET_SIG_KEY in value


def unwrap_secrets(value: Any) -> Any:
    """The value with every secret envelope replaced by what it holds (recursively)."""
    if isinstance(value, Mapping):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG and "value" in value:
            return unwrap_secrets(value["value"])
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unwrap_secrets(v) for v in value]
    return value
