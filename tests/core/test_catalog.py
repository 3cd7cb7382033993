"""Catalog loading, stack overlay and validation messages (one bad input per row)."""

from __future__ import annotations

from typing import Any

import pytest

from core.catalog import CatalogError, resolve
from tests.catalog_helpers import SECRET_NAMES, raw_catalog, settings


def test_catalog_has_the_14_services_in_two_groups() -> None:
    cat = resolve(raw_catalog(), settings())
    assert len(cat.services) == 14
    assert [s.name for s in cat.group("backend")] == [
        "brain-api", "wagtail-cms", "django-crm", "business-directory-backend",
        "coreldove-backend", "auth-service", "ai-agents", "amazon-sourcing",
    ]
    assert len(cat.group("frontend")) == 6


def test_registry_names_container_names_and_ports_come_from_the_stack() -> None:
    cat = resolve(raw_catalog(), settings(services={"brain-api": {"published": 18001}}))
    brain = cat.services["brain-api"]
    assert brain.image_repository == "ghcr.io/bizoholic-digital/bizosaas-platform/brain-api"
    assert brain.local_image == "bizosaas-brain-gateway:latest"
    assert brain.container_name == "bizosaas-brain-staging"
    assert (brain.published, brain.port) == (18001, 8001)
    assert brain.internal_url == "http://bizosaas-brain-staging:8001"


def test_disabled_service_is_left_out() -> None:
    cat = resolve(raw_catalog(), settings(services={"thrillring-gaming": {"enabled": False}}))
    assert "thrillring-gaming" not in cat.services
    assert len(cat.group("frontend")) == 5


def test_required_secrets_are_the_referenced_ones() -> None:
    cat = resolve(raw_catalog(), settings())
    assert cat.required_secrets() == SECRET_NAMES


def _with_service(name: str, **fields: Any) -> dict[str, Any]:
    raw = raw_catalog()
    raw["services"][name].update(fields)
    return raw


BAD: list[tuple[str, Any, Any, str]] = [
    ("unknown service in stack config", None, {"services": {"brain-apii": {"published": 1}}},
     "stack staging: bizosaas-deploy:services/brain-apii: unknown service"),
    ("unknown override key", None, {"services": {"brain-api": {"prot": 1}}},
     "stack staging: bizosaas-deploy:services/brain-api/prot: unknown key"),
    ("duplicate published port", None, {"services": {"wagtail-cms": {"published": 8001}}},
     "stack staging: services/wagtail-cms/published: host port 8001 is already published by brain-api"),
    ("duplicate container name", _with_service("django-crm", container_name="bizosaas-brain"), {},
     "stack staging: services/django-crm/container_name: 'bizosaas-brain-staging' is already used by brain-api"),
    ("port out of range", None, {"services": {"brain-api": {"published": 70000}}},
     "stack staging: bizosaas-deploy:services/brain-api/published: 70000 should be a port number in 1-65535"),
    ("container port zero", _with_service("brain-api", port=0), {},
     "stack staging: services/brain-api/port: 0 should be a port number in 1-65535"),
    ("health path without slash", _with_service("brain-api", health="health"), {},
     "stack staging: services/brain-api/health: 'health' should be a path starting with '/'"),
    ("missing secret", None, {"secret_names": SECRET_NAMES - {"JWT_SECRET"}},
     "stack staging: bizosaas-deploy:secrets/JWT_SECRET: is required by service auth-service"),
    ("secret given as plain stack env", None, {"env": {"DATABASE_URL": "postgres://x"}},
     "stack staging: bizosaas-deploy:env/DATABASE_URL: is a secret"),
    ("secret given as plain service env", None, {"services": {"brain-api": {"env": {"OPENAI_API_KEY": "x"}}}},
     "stack staging: bizosaas-deploy:services/brain-api/env/OPENAI_API_KEY: is a secret"),
    ("bad registry", None, {"registry": "GHCR.io/Upper Case"},
     "stack staging: bizosaas-deploy:registry: 'GHCR.io/Upper Case' is not a valid image repository"),
    ("bad tag", None, {"tag": "-staging"},
     "stack staging: bizosaas-deploy:tag: '-staging' is not a valid image tag"),
    ("missing stack value", None, {"env": {"LOG_LEVEL": "INFO"}},
     "stack staging: bizosaas-deploy:env/ENVIRONMENT: is required by service brain-api (env ENVIRONMENT)"),
    ("link to a disabled service", None, {"services": {"brain-api": {"enabled": False}}},
     "stack staging: services/ai-agents/env/BRAIN_API_URL: points at service 'brain-api', which is disabled in this stack"),
    ("unknown catalog key", _with_service("brain-api", helth="/x"), {},
     "stack staging: services/brain-api/helth: unknown key"),
    ("bad group", _with_service("brain-api", group="middle"), {},
     "stack staging: services/brain-api/group: should be one of backend, frontend, not 'middle'"),
    ("bad local image", _with_service("brain-api", local_image="Bad Image"), {},
     "stack staging: services/brain-api/local_image: 'Bad Image' is not a valid image reference"),
]


@pytest.mark.parametrize(("raw", "override", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_with_stack_service_and_key(raw: Any, override: dict[str, Any], expected: str) -> None:
    with pytest.raises(CatalogError) as err:
        resolve(raw or raw_catalog(), settings(**override))
    assert any(line.startswith(expected) for line in err.value.problems), err.value.problems


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(CatalogError) as err:
        resolve(raw_catalog(), settings(tag="", registry="", secret_names=frozenset()))
    assert len(err.value.problems) >= 3
    assert all(p.startswith("stack staging: ") for p in err.value.problems)
