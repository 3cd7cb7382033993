"""Create the local stacks (``local``, ``local-prod``, test stacks) from a template, with fresh random secrets (set on stdin).

The template (``stacks/<name>.yaml`` or any stack file) gives the plain config; every secret the
catalog refers to gets a new random value on this machine, and the API key is the one this
machine's Dokploy stand-in accepts. Secrets are never committed: ``Pulumi.local*.yaml`` is ignored.
"""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from components.program import catalog_file
from core.catalog import load_catalog_file, secret_names
from deployctl import engine

TEMPLATES = engine.PROJECT_DIR / "stacks"


def catalog_secret_names() -> frozenset[str]:
    """Every secret a catalog service refers to."""
    return secret_names(load_catalog_file(catalog_file()))


def local_dokploy_key() -> str:
    """The API key of this machine's Dokploy stand-in, shared by the local stacks (generated once)."""
    return engine.machine_secret("dokploy-api-key")


def init(name: str) -> auto.Stack:
    """Pulumi.<name>.yaml from stacks/<name>.yaml, with fresh random secrets."""
    return init_from(name, TEMPLATES / f"{name}.yaml")


def init_from(name: str, template: Path, extra: dict[str, Any] | None = None, work_dir: Path = engine.PROJECT_DIR) -> auto.Stack:
    """Write Pulumi.<name>.yaml from a template (once) and give every missing secret a fresh random value."""
    target = work_dir / f"Pulumi.{name}.yaml"
    if not target.exists():
        config = yaml.safe_load(template.read_text())["config"]
        config.update(extra or {})
        target.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    st = engine.stack(name, work_dir=work_dir)
    existing = st.get_all_config()
    if "bizosaas-deploy:dokployApiKey" not in existing:
        engine.set_secret(name, "bizosaas-deploy:dokployApiKey", local_dokploy_key(), work_dir=work_dir)
    for secret in sorted(catalog_secret_names()):
        if not _has_secret(existing, secret):
            engine.set_secret(name, f"bizosaas-deploy:secrets.{secret}", _random_secret(secret), path=True, work_dir=work_dir)
    return st


def _has_secret(existing: Mapping[str, auto.ConfigValue], name: str) -> bool:
    value = existing.get("bizosaas-deploy:secrets")
    return bool(value and f'"{name}"' in value.value)


def _random_secret(name: str) -> str:
    token = pysecrets.token_hex(16)
    if name == "DATABASE_URL":
        return f"postgresql://bizosaas:{token}@127.0.0.1:5433/bizosaas_local"
    if name == "REDIS_BASE_URL":
        return f"redis://:{token}@127.0.0.1:6380"
    return token
