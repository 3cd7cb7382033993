"""Shared test data: the real catalog with a complete, valid stack overlay."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from core.catalog import StackSettings, load_catalog_file, secret_names

ROOT = Path(__file__).resolve().parent.parent
RAW = load_catalog_file(ROOT / "catalog.yaml")
SECRET_NAMES = secret_names(RAW)  # every secret the catalog refers to
STACK_ENV = {
    "ENVIRONMENT": "staging",
    "LOG_LEVEL": "INFO",
    "ALLOWED_HOSTS": "*",
    "ALLOWED_ORIGINS": "https://staging.example.test",
    "SALEOR_API_URL": "http://bizosaas-saleor-staging:8000",
    "SUPERSET_URL": "http://superset:8088",
    "TEMPORAL_UI_URL": "http://temporal-ui:8080",
}


def raw_catalog() -> dict[str, Any]:
    """A fresh copy of catalog.yaml as data."""
    return copy.deepcopy(RAW)


def settings(**overrides: Any) -> StackSettings:
    """Valid staging settings, with some fields replaced."""
    base: dict[str, Any] = {
        "stack": "staging",
        "registry": "ghcr.io/bizoholic-digital/bizosaas-platform",
        "tag": "staging",
        "container_suffix": "staging",
        "env": dict(STACK_ENV),
        "services": {},
        "secret_names": SECRET_NAMES,
    }
    base.update(overrides)
    return StackSettings(**base)


def fake_digest(name: str) -> str:
    """A deterministic, valid-looking digest per service."""
    import hashlib

    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()
