"""Catalog loading, stack overlay and validation messages (one bad input per row)."""

from __future__ import annotations

from typing import Any

import pytest

from core.catalog import CatalogError, resolve
from tests.catalog_helpers import SECRET_NAMES, STACK_ENV, raw_catalog, settings


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


def _catalog(**top: Any) -> dict[str, Any]:
    """The real catalog with top-level keys replaced (None removes one)."""
    raw = raw_catalog()
    for key, value in top.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def _without_frontends() -> dict[str, Any]:
    raw = raw_catalog()
    raw["services"] = {n: s for n, s in raw["services"].items() if s["group"] == "backend"}
    return raw


BAD: list[tuple[str, Any, Any, str]] = [
    # odd catalogs that used to deploy nothing (or delete prod's compose projects) without a word
    ("empty catalog", _catalog(services={}), {}, "stack staging: catalog.yaml/services: is required: a mapping of at least one service"),
    ("misspelt services key", _catalog(services=None, servics=raw_catalog()["services"]), {},
     "stack staging: catalog.yaml/servics: unknown key; did you mean services? (allowed: defaults, groups, services)"),
    ("unknown defaults key", _catalog(defaults={"restart": "always", "netwrk": "x"}), {},
     "stack staging: catalog.yaml/defaults/netwrk: unknown key; did you mean network? (allowed: deploy, healthcheck, network, restart, "
     "route)"),
    ("healthcheck default replacing the probe", _catalog(defaults={"healthcheck": {"test": ["CMD", "true"]}}), {},
     "stack staging: catalog.yaml/defaults/healthcheck/test: unknown key (allowed: interval, retries, start_interval, start_period"),
    ("healthcheck interval without a unit", _catalog(defaults={"healthcheck": {"interval": 10}}), {},
     "stack staging: catalog.yaml/defaults/healthcheck/interval: 10 should be a duration with its unit (10s, 1m30s, 500ms)"),
    ("healthcheck start_interval not a duration", _catalog(defaults={"healthcheck": {"start_interval": "1 second"}}), {},
     "stack staging: catalog.yaml/defaults/healthcheck/start_interval: '1 second' should be a duration with its unit"),
    ("healthcheck retries zero", _catalog(defaults={"healthcheck": {"retries": 0}}), {},
     "stack staging: catalog.yaml/defaults/healthcheck/retries: 0 should be a whole number of at least 1"),
    ("group without a service", _catalog(groups={"backend": {}, "frontend": {}, "workers": {}}), {},
     "stack staging: services (group workers): no enabled service is in group workers: its compose project would be deleted"),
    ("group name not a compose name", _catalog(groups={"backend": {}, "frontend": {}, "Bad Group": {}}), {},
     "stack staging: catalog.yaml/groups/Bad Group: group names are lower-case words joined by '-'"),
    ("no groups", _catalog(groups=None), {}, "stack staging: catalog.yaml/groups: is required"),
    ("empty group", _without_frontends(), {}, "stack staging: services (group frontend): no enabled service is in group frontend"),
    ("every frontend disabled in the stack", None,
     {"services": {n: {"enabled": False} for n, s in raw_catalog()["services"].items() if s["group"] == "frontend"}},
     "stack staging: services (group frontend): no enabled service is in group frontend: its compose project would be deleted"),
    ("enabled as text", None, {"services": {"brain-api": {"enabled": "no"}}},
     "stack staging: bizosaas-deploy:services/brain-api/enabled: 'no' should be true or false"),
    ("env override as a mapping", None, {"services": {"brain-api": {"env": {"LOG_LEVEL": {"x": 1}}}}},
     "stack staging: bizosaas-deploy:services/brain-api/env/LOG_LEVEL: should be text or a number"),
    ("health path with a shell command", _with_service("brain-api", health="/health; reboot"), {},
     "stack staging: services/brain-api/health: '/health; reboot' should be a path starting with '/'"),
    ("health path with a quote", _with_service("brain-api", health="/x'$(id)"), {},
     "stack staging: services/brain-api/health: \"/x'$(id)\" should be a path"),
    ("publish address not an IP", None, {"publish_address": "all"},
     "stack staging: bizosaas-deploy:publishAddress: 'all' should be an IP address"),
    ("unknown service in stack config", None, {"services": {"brain-apii": {"published": 1}}},
     "stack staging: bizosaas-deploy:services/brain-apii: unknown service"),
    ("unknown override key", None, {"services": {"brain-api": {"prot": 1}}},
     "stack staging: bizosaas-deploy:services/brain-api/prot: unknown key"),
    ("duplicate published port", None, {"services": {"brain-api": {"published": True}, "wagtail-cms": {"published": 8001}}},
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
     "stack staging: services/brain-api/group: should be one of the catalog's groups (backend, frontend), not 'middle'"),
    ("bad local image", _with_service("brain-api", local_image="Bad Image"), {},
     "stack staging: services/brain-api/local_image: 'Bad Image' is not a valid image reference"),
    # issue 22.5: a key nothing reads, at any depth, with the nearest valid name
    ("env value with a misspelt key", _with_service("brain-api", env={"LOG_LEVEL": {"secrt": True}}), {},
     "stack staging: services/brain-api/env/LOG_LEVEL/secrt: unknown key; did you mean secret? "
     "(allowed: public_url, secret, service_url, stack)"),
    ("misspelt service in stack config", None, {"services": {"brain-apii": {"published": 1}}},
     "stack staging: bizosaas-deploy:services/brain-apii: unknown service; did you mean brain-api? (known: "),
    ("misspelt env override", None, {"services": {"brain-api": {"env": {"LOG_LEVLE": "x"}}}},
     "stack staging: bizosaas-deploy:services/brain-api/env/LOG_LEVLE: is not an env var of this service in catalog.yaml; did you mean "
     "LOG_LEVEL?"),
    ("misspelt compose project", None, {"projects": {"backnd": {"mode": "stack"}}},
     "stack staging: bizosaas-deploy:composeProjects/backnd: unknown compose project; did you mean backend?"),
    ("healthcheck interval of zero", _catalog(defaults={"healthcheck": {"interval": "0s"}}), {},
     "stack staging: catalog.yaml/defaults/healthcheck/interval: '0s' should be more than zero (Docker replaces 0 with its default)"),
    # the pre-push test gate's catalog keys
    ("test as a number", _with_service("brain-api", test=5), {},
     "stack staging: services/brain-api/test: 5 should be a command (text, run with /bin/sh -c inside the image) or a non-empty list"),
    ("test as an empty list", _with_service("brain-api", test=[]), {}, "stack staging: services/brain-api/test: should be a command"),
    ("test argv with a non-string", _with_service("brain-api", test=["pytest", 1]), {},
     "stack staging: services/brain-api/test: should be a command"),
    ("test_env as a list", _with_service("brain-api", test_env=["A=1"]), {},
     "stack staging: services/brain-api/test_env: should be a mapping of NAME: placeholder value"),
    ("test_env lower-case name", _with_service("brain-api", test_env={"db_url": "x"}), {},
     "stack staging: services/brain-api/test_env/db_url: env var names are upper case letters, digits and '_'"),
    ("test_env secret reference", _with_service("brain-api", test_env={"DATABASE_URL": "${DATABASE_URL}"}), {},
     "stack staging: services/brain-api/test_env/DATABASE_URL: '${DATABASE_URL}' is refused: the test container gets no secrets"),
    ("test_env two lines", _with_service("brain-api", test_env={"A": "x\ny"}), {},
     "stack staging: services/brain-api/test_env/A: 'x\\ny' should be one line"),
    ("test_env as a mapping value", _with_service("brain-api", test_env={"A": {"secret": True}}), {},
     "stack staging: services/brain-api/test_env/A: should be text or a number: a non-secret placeholder"),
    ("test_env as a boolean", _with_service("brain-api", test_env={"DEBUG": True}), {},
     "stack staging: services/brain-api/test_env/DEBUG: True should be text or a number"),
]


@pytest.mark.parametrize(("raw", "override", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_with_stack_service_and_key(raw: Any, override: dict[str, Any], expected: str) -> None:
    with pytest.raises(CatalogError) as err:
        resolve(raw or raw_catalog(), settings(**override))
    assert any(line.startswith(expected) for line in err.value.problems), err.value.problems


def test_a_catalog_names_its_own_compose_projects() -> None:
    raw = raw_catalog()
    raw["groups"]["workers"] = {"description": "queue workers"}
    raw["services"]["ai-agents"]["group"] = "workers"
    cat = resolve(raw, settings())
    assert cat.group_names == ["backend", "frontend", "workers"]
    assert [s.name for s in cat.group("workers")] == ["ai-agents"] and len(cat.group("backend")) == 7


def test_a_health_path_with_a_query_is_accepted() -> None:
    cat = resolve(_with_service("brain-api", health="/health?full=1&db=no"), settings())
    assert cat.services["brain-api"].health_path == "/health?full=1&db=no"


def test_test_and_test_env_resolve_to_an_argv_and_a_secret_free_environment() -> None:
    placeholders = {"DATABASE_URL": "postgresql://test:test@127.0.0.1:9/t", "N": 3}
    raw = _with_service("auth-service", test="python -m pytest -q", test_env=placeholders)
    raw["services"]["brain-api"]["test"] = ["/app/bin/selftest", "--quick"]
    svc = resolve(raw, settings()).services["auth-service"]
    assert svc.test == ("/bin/sh", "-c", "python -m pytest -q")
    assert resolve(raw, settings()).services["brain-api"].test == ("/app/bin/selftest", "--quick")
    env = svc.test_environment()
    # plain values without a secret reference, then the placeholders; never a secret, a stack value or ${REDIS_BASE_URL}/10
    assert env == {"PORT": "8007", "DATABASE_URL": "postgresql://test:test@127.0.0.1:9/t", "N": "3"}
    assert resolve(raw_catalog(), settings()).services["wagtail-cms"].test_environment() == {
        "DJANGO_SETTINGS_MODULE": "wagtail_cms.settings.production", "DEBUG": "False", "PYTHONPATH": "/app",
    }


def test_the_test_environment_does_not_depend_on_the_stack() -> None:
    staging = resolve(raw_catalog(), settings()).services
    other = resolve(raw_catalog(), settings(env={**STACK_ENV, "LOG_LEVEL": "DEBUG"}, container_suffix="x",
                                             services={"brain-api": {"env": {"LOG_LEVEL": "TRACE"}}})).services
    assert {n: s.test_environment() for n, s in staging.items()} == {n: s.test_environment() for n, s in other.items()}
    assert staging["brain-api"].test_environment() == {"ENVIRONMENT": "test", "LOG_LEVEL": "INFO"}  # catalog placeholders


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(CatalogError) as err:
        resolve(raw_catalog(), settings(tag="", registry="", secret_names=frozenset()))
    assert len(err.value.problems) >= 3
    assert all(p.startswith("stack staging: ") for p in err.value.problems)
