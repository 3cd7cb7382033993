"""Where a stack's Dokploy is, whether it answers, and a client for it: what status, logs and the engine commands check first.

The plain keys come from the stack file (``Pulumi.<stack>.yaml``: dokployUrl, dokployProject,
dokployEnvironment, dokployAllowHttp), the API key from ``DOKPLOY_API_KEY`` or the stack's secret
config (``pulumi config get``, decrypted with the stack's passphrase). A *local* stack is one made
from a template in ``stacks/`` (``make demo``) whose Dokploy is on loopback: the Dokploy stand-in,
which nothing keeps running, so a Dokploy that does not answer there comes with the command that
starts it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from components.stack_config import API_KEY_ENV, PROJECT
from core.hosts import is_loopback
from deployctl import engine
from dokploy_api import DokployClient
from dokploy_api.transport import check_base_url

TEMPLATES = engine.PROJECT_DIR / "stacks"
STANDIN_COMMAND = "venv/bin/python -m deployctl standin --stack {stack}"
"""The command that starts a local stack's Dokploy stand-in (``make demo`` starts it too)."""


class TargetError(Exception):
    """A stack whose Dokploy cannot be reached or named: the message says which URL and what to do."""


@dataclass(frozen=True)
class Target:
    """One stack's Dokploy: where it is and the names of the stack's project and environment in it."""

    stack: str
    url: str
    project: str
    environment: str
    allow_insecure_http: bool = False
    local: bool = False
    """Made from a template in stacks/ (``make demo``) with its Dokploy on loopback: the stand-in."""

    def standin_hint(self) -> str:
        return f"start the Dokploy stand-in of this local stack with `{STANDIN_COMMAND.format(stack=self.stack)}` (make demo starts it too)"


def stack_config(stack: str, work_dir: Path = engine.PROJECT_DIR) -> dict[str, Any]:
    """The ``config:`` mapping of ``Pulumi.<stack>.yaml`` (values as written: secrets stay ciphertext)."""
    path = work_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise TargetError(f"stack {stack}: no {path.name} in {work_dir} (`pulumi stack ls` lists the stacks; make demo creates `local`)")
    return _config(path)


def read(stack: str, work_dir: Path = engine.PROJECT_DIR) -> Target:
    """The stack's Dokploy, from its stack file."""
    return _target(stack, stack_config(stack, work_dir))


def read_template(name: str) -> Target:
    """The Dokploy a local stack made from ``stacks/<name>.yaml`` will use (before its stack file exists)."""
    return _target(name, _config(TEMPLATES / f"{name}.yaml"))


def _config(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text()) or {}
    config = doc.get("config") if isinstance(doc, dict) else None
    return dict(config) if isinstance(config, dict) else {}


def _target(stack: str, config: dict[str, Any]) -> Target:
    def get(key: str) -> Any:
        return config.get(f"{PROJECT}:{key}")

    insecure = get("dokployAllowHttp") in (True, "true")
    try:
        url = check_base_url(str(get("dokployUrl") or ""), allow_insecure_http=insecure)
    except ValueError as exc:
        raise TargetError(f"stack {stack}: {PROJECT}:dokployUrl: {str(exc).removeprefix('dokploy_url: ')}") from None
    host = urlsplit(url).hostname or ""
    return Target(
        stack=stack,
        url=url,
        project=str(get("dokployProject") or f"bizosaas-{stack}"),
        environment=str(get("dokployEnvironment") or "production"),
        allow_insecure_http=insecure,
        local=is_loopback(host) and (TEMPLATES / f"{stack}.yaml").is_file(),
    )


def api_key(stack: str, work_dir: Path = engine.PROJECT_DIR) -> str:
    """``DOKPLOY_API_KEY``, else the stack's ``dokployApiKey`` (decrypted by `pulumi config get`)."""
    if os.environ.get(API_KEY_ENV):
        return os.environ[API_KEY_ENV]
    env = engine.engine_env()
    got = subprocess.run(
        ["pulumi", "config", "get", f"{PROJECT}:dokployApiKey", "--stack", stack],
        cwd=work_dir, env={**os.environ, **env}, capture_output=True, text=True, check=False, timeout=120,
    )
    if got.returncode != 0 or not got.stdout.strip():
        why = (got.stderr.strip().splitlines() or ["not set"])[-1]
        raise TargetError(
            f"stack {stack}: no Dokploy API key ({why}): set {API_KEY_ENV}, or `pulumi config set --secret dokployApiKey` on the stack"
        )
    return got.stdout.strip()


def check_answers(target: Target, timeout: float = 5.0) -> None:
    """Raise TargetError, naming the URL (and for a local stack the command that starts the stand-in), when nothing answers there."""
    try:
        requests.get(f"{target.url}/api/health", timeout=timeout).close()
    except requests.RequestException as exc:
        why = f"no answer within {timeout:g}s" if isinstance(exc, requests.Timeout) else "could not connect"
        head = f"stack {target.stack}: Dokploy at {target.url} does not answer ({why})"
        if target.local:
            raise TargetError(f"{head}: {target.standin_hint()}") from None
        raise TargetError(f"{head}: check that Dokploy runs there ({PROJECT}:dokployUrl in Pulumi.{target.stack}.yaml)") from None


def client(target: Target, key: str) -> DokployClient:
    return DokployClient(target.url, key, allow_insecure_http=target.allow_insecure_http)
