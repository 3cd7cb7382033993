"""STAND-IN package schema: the subset of pulumi-docker 5.2.0's schema this stand-in implements.

Property names and types follow the published schema / the pulumi_docker 5.2.0 Python SDK; only
the provider config, ``Tag`` and ``RegistryImage`` are described.
"""

from __future__ import annotations

import json
from typing import Any

from . import VERSION

_STR = {"type": "string"}
_BOOL = {"type": "boolean"}

_REGISTRY_AUTH = {
    "type": "object",
    "properties": {
        "address": _STR,
        "authDisabled": _BOOL,
        "configFile": _STR,
        "configFileContent": _STR,
        "password": {"type": "string", "secret": True},
        "username": _STR,
    },
    "required": ["address"],
}

_AUTH_CONFIG = {
    "type": "object",
    "properties": {"address": _STR, "password": {"type": "string", "secret": True}, "username": _STR},
    "required": ["address"],
}

_CONFIG_VARS: dict[str, Any] = {
    "caMaterial": _STR,
    "certMaterial": _STR,
    "certPath": _STR,
    "context": _STR,
    "disableDockerDaemonCheck": _BOOL,
    "host": {"type": "string", "defaultInfo": {"environment": ["DOCKER_HOST"]}},
    "keyMaterial": _STR,
    "registryAuth": {"type": "array", "items": {"$ref": "#/types/docker:config/registryAuth:registryAuth"}},
    "sshOpts": {"type": "array", "items": _STR},
}

_TAG_INPUTS = {
    "sourceImage": {**_STR, "willReplaceOnChanges": True},
    "targetImage": {**_STR, "willReplaceOnChanges": True},
    "tagTriggers": {"type": "array", "items": _STR, "willReplaceOnChanges": True},
}

_REGISTRY_IMAGE_INPUTS = {
    "authConfig": {"$ref": "#/types/docker:index/RegistryImageAuthConfig:RegistryImageAuthConfig"},
    "insecureSkipVerify": _BOOL,
    "keepRemotely": _BOOL,
    "name": {**_STR, "willReplaceOnChanges": True},
    "triggers": {"type": "object", "additionalProperties": _STR, "willReplaceOnChanges": True},
}


def schema() -> dict[str, Any]:
    """The schema document (as a dict)."""
    return {
        "name": "docker",
        "version": VERSION,
        "description": "STAND-IN for pulumi-docker 5.2.0: Tag and RegistryImage only",
        "config": {"variables": _CONFIG_VARS, "defaults": ["host"]},
        "provider": {"inputProperties": _CONFIG_VARS, "properties": {"host": _STR}},
        "types": {
            "docker:config/registryAuth:registryAuth": _REGISTRY_AUTH,
            "docker:index/ProviderRegistryAuth:ProviderRegistryAuth": _REGISTRY_AUTH,
            "docker:index/RegistryImageAuthConfig:RegistryImageAuthConfig": _AUTH_CONFIG,
        },
        "resources": {
            "docker:index/tag:Tag": {
                "inputProperties": _TAG_INPUTS,
                "requiredInputs": ["sourceImage", "targetImage"],
                "properties": {**_TAG_INPUTS, "sourceImageId": _STR},
                "required": ["sourceImage", "sourceImageId", "targetImage"],
            },
            "docker:index/registryImage:RegistryImage": {
                "inputProperties": _REGISTRY_IMAGE_INPUTS,
                "properties": {**_REGISTRY_IMAGE_INPUTS, "sha256Digest": _STR},
                "required": ["name", "sha256Digest"],
            },
        },
    }


def schema_json() -> str:
    """The schema as the JSON text GetSchema returns."""
    return json.dumps(schema())
