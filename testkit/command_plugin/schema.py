"""STAND-IN package schema: ``command:local:Command`` only, with the real 1.2.1 property names and types."""

from __future__ import annotations

import json
from typing import Any

from . import COMMAND, VERSION

_STR: dict[str, Any] = {"type": "string"}
_STRINGS: dict[str, Any] = {"type": "array", "items": _STR}

_INPUTS: dict[str, Any] = {
    "addPreviousOutputInEnv": {"type": "boolean"},
    "archivePaths": _STRINGS,
    "assetPaths": _STRINGS,
    "create": _STR,
    "delete": _STR,
    "dir": _STR,
    "environment": {"type": "object", "additionalProperties": _STR},
    "interpreter": _STRINGS,
    "logging": {"$ref": "#/types/command:local:Logging"},
    "stdin": _STR,
    "triggers": {"type": "array", "items": {"$ref": "pulumi.json#/Any"}, "replaceOnChanges": True},
    "update": _STR,
}

_LOGGING = {
    "type": "string",
    "enum": [{"name": v, "value": v} for v in ("stdout", "stderr", "stdoutAndStderr", "none")],
}


def schema_json() -> str:
    """The schema GetSchema returns (the engine does not need it for preview/up/destroy)."""
    return json.dumps(
        {
            "name": "command",
            "version": VERSION,
            "description": "STAND-IN for pulumi-command 1.2.1: command:local:Command only",
            "config": {},
            "provider": {},
            "types": {"command:local:Logging": _LOGGING},
            "resources": {
                COMMAND: {
                    "inputProperties": _INPUTS,
                    "properties": {**_INPUTS, "stdout": _STR, "stderr": _STR},
                    "required": ["stdout", "stderr"],
                }
            },
        }
    )
