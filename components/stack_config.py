"""Read one stack's Pulumi config into the settings the program uses (the only module that knows the config keys)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime.config import is_config_secret

from core.catalog import CatalogError
from core.model import StackSettings

NAMESPACE = "bizosaas"
API_KEY_ENV = "DOKPLOY_API_KEY"


@dataclass(frozen=True)
class DeploySettings:
    """Where and how the compose projects are deployed and verified."""

    dokploy_url: str
    project_name: str
    environment_name: str
    health_url: str
    """Template of each service's health URL (keys: published, port, path, container, service); "" = no check."""
    deploy_timeout: float
    poll_interval: float
    health_timeout: float
    rollback_on_failure: bool
    allow_insecure_http: bool


def read_settings(cfg: pulumi.Config, stack: str) -> StackSettings:
    """The catalog-shaping part of the stack config."""
    secrets = cfg.get_object("secrets") or {}
    names = frozenset(k for k, v in secrets.items() if v not in (None, ""))
    secret = not secrets or is_config_secret(f"{NAMESPACE}:secrets")
    return _settings(stack, cfg.get, cfg.get_object, names, secrets_are_secret=secret)


def settings_from_file(stack: str, config: Mapping[str, Any], secret_names: frozenset[str]) -> StackSettings:
    """The same settings from a stack file's ``config:`` mapping, without decrypting anything (tools, the demo)."""
    def get(key: str) -> Any:
        return config.get(f"{NAMESPACE}:{key}")

    return _settings(stack, get, get, secret_names, secrets_are_secret=True)


def _settings(
    stack: str, text: Callable[[str], Any], obj: Callable[[str], Any], secret_names: frozenset[str], *, secrets_are_secret: bool
) -> StackSettings:
    return StackSettings(
        stack=stack,
        registry=str(text("registry") or ""),
        tag=str(text("tag") or stack),
        container_suffix=str(text("containerSuffix") or ""),
        env={k: str(v) for k, v in (obj("env") or {}).items()},
        services=obj("services") or {},
        secret_names=secret_names,
        secrets_are_secret=secrets_are_secret,
    )


def read_deploy(cfg: pulumi.Config, stack: str) -> DeploySettings:
    """The Dokploy and verification part of the stack config."""
    return DeploySettings(
        dokploy_url=cfg.require("dokployUrl"),
        project_name=cfg.get("dokployProject") or f"bizosaas-{stack}",
        environment_name=cfg.get("dokployEnvironment") or "production",
        health_url=cfg.get("healthUrl") or "",
        deploy_timeout=float(cfg.get_float("deployTimeout") or 600),
        poll_interval=float(cfg.get_float("pollInterval") or 2),
        health_timeout=float(cfg.get_float("healthTimeout") or 120),
        rollback_on_failure=bool(cfg.get_bool("rollbackOnFailure")),
        allow_insecure_http=bool(cfg.get_bool("dokployAllowHttp")),
    )


def dokploy_api_key(cfg: pulumi.Config) -> pulumi.Output[str]:
    """The Dokploy API key: secret stack config, else DOKPLOY_API_KEY."""
    key = cfg.get_secret("dokployApiKey")
    if key is not None:
        return key
    if os.environ.get(API_KEY_ENV):
        return pulumi.Output.secret(os.environ[API_KEY_ENV])
    hint = f"pulumi config set --secret dokployApiKey ..., or {API_KEY_ENV}"
    raise CatalogError([f"stack {pulumi.get_stack()}: {NAMESPACE}:dokployApiKey: is required ({hint})"])
