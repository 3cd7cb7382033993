"""Public routes and host ports: the catalog's routes filled and overridden per stack, validated; no host port unless asked."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from core import routes
from core.catalog import CatalogError, resolve
from core.compose import render_compose
from tests.catalog_helpers import fake_digest, raw_catalog, settings

STAGING = "staging.bizoholic.com"
PUBLIC = {"brain-api", "wagtail-cms", "django-crm", "business-directory-backend", "coreldove-backend", "client-portal",
          "bizoholic-frontend", "coreldove-frontend", "business-directory-frontend", "thrillring-gaming", "admin-dashboard"}


def staging(**kw: Any) -> Any:
    return resolve(raw_catalog(), settings(domain=STAGING, **kw))


def test_the_frontends_and_the_backends_their_browsers_call_get_a_route_at_the_stack_domain() -> None:
    cat = staging()
    assert {n for n, s in cat.services.items() if s.route} == PUBLIC
    assert cat.services["bizoholic-frontend"].route.url == "https://staging.bizoholic.com"  # type: ignore[union-attr]
    assert cat.services["brain-api"].route.url == "https://api.staging.bizoholic.com"  # type: ignore[union-attr]
    brain = cat.services["brain-api"].route
    assert brain is not None and (brain.path, brain.https, brain.certificate) == ("/", True, "letsencrypt")
    assert cat.warnings == ()
    prod = resolve(raw_catalog(), settings(stack="prod", container_suffix="prod", domain="bizoholic.com"))
    hosts = {s.route.host for s in cat.services.values() if s.route} & {s.route.host for s in prod.services.values() if s.route}
    assert hosts == set()  # staging and prod on one Dokploy host: no host in common


def test_no_service_publishes_a_host_port_unless_the_stack_asks() -> None:
    assert all(s.published == 0 for s in staging().services.values())
    asked = staging(services={"brain-api": {"published": True}, "auth-service": {"published": 18006}})
    assert (asked.services["brain-api"].published, asked.services["auth-service"].published) == (8001, 18006)
    assert asked.services["wagtail-cms"].published == 0


def test_published_true_needs_a_catalog_port() -> None:
    raw = raw_catalog()
    del raw["services"]["brain-api"]["published"]
    assert resolve(raw, settings()).services["brain-api"].published == 0  # the catalog key is optional
    with pytest.raises(CatalogError) as err:
        resolve(raw, settings(services={"brain-api": {"published": True}}))
    assert "stack staging: bizosaas-deploy:services/brain-api/published: true publishes the catalog's host port, and the catalog " \
           "gives none: give a port number" in err.value.problems


def test_public_urls_are_the_routes_a_browser_opens_else_the_internal_ones() -> None:
    doc = yaml.safe_load(render_compose(staging(), "frontend", {n: fake_digest(n) for n in staging().services}))
    portal = doc["services"]["client-portal"]["environment"]
    assert portal["NEXT_PUBLIC_API_BASE_URL"] == "https://api.staging.bizoholic.com"
    assert portal["NEXT_PUBLIC_CRM_API_URL"] == "https://crm.staging.bizoholic.com"
    no_routes = resolve(raw_catalog(), settings(domain=STAGING, routes={"enabled": False}))
    assert no_routes.services["client-portal"].env[1].name == "NEXT_PUBLIC_API_BASE_URL"
    assert no_routes.services["brain-api"].public_url == "http://bizosaas-brain-staging:8001"  # nothing routes it: the network URL
    assert no_routes.warnings == ()


def test_without_a_domain_the_templated_routes_are_off_and_a_warning_says_how_to_set_it() -> None:
    cat = resolve(raw_catalog(), settings())
    assert not any(s.route for s in cat.services.values())
    [warning] = cat.warnings
    assert warning.startswith("stack staging: bizosaas-deploy:domain is not set, so brain-api, wagtail-cms")
    assert "`pulumi config set domain example.com`" in warning and "routes.enabled false" in warning


def test_a_stack_overrides_every_route_then_one_service() -> None:
    cat = staging(routes={"https": False, "certificate": "none"},
                  services={"brain-api": {"route": {"host": "gateway.example.net", "path": "/v1"}},
                            "admin-dashboard": {"route": False}})
    brain = cat.services["brain-api"].route
    assert brain is not None and (brain.host, brain.path, brain.https, brain.certificate) == ("gateway.example.net", "/v1", False, "none")
    assert brain.url == "http://gateway.example.net/v1"
    assert cat.services["admin-dashboard"].route is None
    assert cat.services["client-portal"].route.url == "http://portal.staging.bizoholic.com"  # type: ignore[union-attr]
    custom = staging(services={"brain-api": {"route": {"certificate": "custom", "cert_resolver": "dns"}}})
    assert custom.services["brain-api"].route.cert_resolver == "dns"  # type: ignore[union-attr]
    assert routes.inputs(cat.services["brain-api"]) == {
        "host": "gateway.example.net", "path": "/v1", "port": 8001, "https": False, "certificate": "none", "cert_resolver": "",
        "health": "/health",
    }


def test_placeholders_stack_and_service_fill_a_host() -> None:
    cat = staging(services={"brain-api": {"route": {"host": "{service}-{stack}.example.net"}}})
    assert cat.services["brain-api"].route.host == "brain-api-staging.example.net"  # type: ignore[union-attr]


def _with_route(name: str, route: Any) -> dict[str, Any]:
    raw = raw_catalog()
    raw["services"][name]["route"] = route
    return raw


BAD = [
    ("domain not a host name", None, {"domain": "Staging_Bizoholic.com"},
     "stack staging: bizosaas-deploy:domain: 'Staging_Bizoholic.com' should be a DNS name in lower case"),
    ("unknown route key", _with_route("brain-api", {"host": "api.{domain}", "tls": True}), {},
     "stack staging: services/brain-api/route/tls: unknown key (allowed: cert_resolver, certificate, host, https, path)"),
    ("route not a mapping", _with_route("brain-api", "api.example.com"), {},
     "stack staging: services/brain-api/route: 'api.example.com' should be a mapping of host, path, https, certificate, cert_resolver"),
    ("route without a host", _with_route("brain-api", {"path": "/api"}), {},
     "stack staging: services/brain-api/route/host: is required"),
    ("a stack's route for a service the catalog gives none", None, {"services": {"auth-service": {
        "route": {"path": "/auth"}}}}, "stack staging: bizosaas-deploy:services/auth-service/route/host: is required: the catalog gives"),
    ("unknown placeholder", _with_route("brain-api", {"host": "api.{env}"}), {},
     "stack staging: services/brain-api/route/host: 'api.{env}': unknown placeholder {env}"),
    ("template with a format spec", _with_route("brain-api", {"host": "api.{domain:>5}"}), {},
     "stack staging: services/brain-api/route/host: 'api.{domain:>5}': placeholders are written {domain}"),
    ("host with an underscore", None, {"services": {"brain-api": {"route": {"host": "my_api.example.com"}}}},
     "stack staging: bizosaas-deploy:services/brain-api/route/host: 'my_api.example.com' is not a valid host name"),
    ("host in upper case", None, {"services": {"brain-api": {"route": {"host": "API.example.com"}}}},
     "stack staging: bizosaas-deploy:services/brain-api/route/host: 'API.example.com' is not a valid host name"),
    ("filled host too long", None, {"services": {"brain-api": {"route": {"host": "a" * 64 + ".{domain}"}}}},
     "stack staging: bizosaas-deploy:services/brain-api/route/host: '" + "a" * 64 + ".{domain}' gives"),
    ("path without a slash", None, {"services": {"brain-api": {"route": {"path": "api"}}}},
     "stack staging: bizosaas-deploy:services/brain-api/route/path: 'api' should be '/' or a path prefix"),
    ("path with a trailing slash", None, {"services": {"brain-api": {"route": {"path": "/api/"}}}},
     "stack staging: bizosaas-deploy:services/brain-api/route/path: '/api/' should be '/' or a path prefix"),
    ("https not a boolean", None, {"routes": {"https": "yes"}},
     "stack staging: bizosaas-deploy:routes/https: 'yes' should be true or false"),
    ("unknown certificate type", None, {"routes": {"certificate": "acme"}},
     "stack staging: bizosaas-deploy:routes/certificate: 'acme' should be one of letsencrypt, none, custom"),
    ("letsencrypt without https", None, {"routes": {"https": False}},
     "stack staging: catalog.yaml/defaults/route/certificate: letsencrypt certificates are served on Traefik's websecure"),
    ("letsencrypt without https, said by the stack", None,
     {"services": {"brain-api": {"route": {"https": False, "certificate": "letsencrypt"}}}},
     "stack staging: bizosaas-deploy:services/brain-api/route/certificate: letsencrypt certificates are served on Traefik's websecure"),
    ("custom without a resolver", None, {"routes": {"certificate": "custom"}},
     "stack staging: bizosaas-deploy:routes/certificate: certificate: custom needs cert_resolver"),
    ("a resolver without custom", None, {"services": {"brain-api": {"route": {"cert_resolver": "dns"}}}},
     "stack staging: bizosaas-deploy:services/brain-api/route/cert_resolver: only a route with certificate: custom uses a resolver"),
    ("unknown stack routes key", None, {"routes": {"domain": "x.com"}},
     "stack staging: bizosaas-deploy:routes/domain: unknown key (allowed: cert_resolver, certificate, enabled, https, verify)"),
    ("route true", None, {"services": {"brain-api": {"route": True}}},
     "stack staging: bizosaas-deploy:services/brain-api/route: True should be false (no route) or a mapping of route keys"),
    ("two services on one host", None, {"services": {"django-crm": {"route": {"host": "api.{domain}"}}}},
     "stack staging: services/django-crm/route: api.staging.bizoholic.com is already the route of service brain-api"),
    ("catalog default route with a host", "default-route", {},
     "stack staging: catalog.yaml/defaults/route/host: unknown key (allowed: cert_resolver, certificate, https, path)"),
]


def _raw(raw: Any) -> dict[str, Any]:
    if raw == "default-route":
        out = raw_catalog()
        out["defaults"]["route"] = {"host": "x.{domain}"}
        return out
    return raw or raw_catalog()


@pytest.mark.parametrize(("raw", "override", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_routes_are_rejected_with_stack_service_and_key(raw: Any, override: dict[str, Any], expected: str) -> None:
    with pytest.raises(CatalogError) as err:
        resolve(_raw(raw), settings(**{"domain": STAGING, **override}))
    assert any(line.startswith(expected) for line in err.value.problems), err.value.problems


def test_the_traefik_address_defaults_to_the_dokploy_host() -> None:
    assert routes.traefik_addresses("https://dokploy.example.com/") == {"web": "http://dokploy.example.com",
                                                                        "websecure": "https://dokploy.example.com"}
    assert routes.traefik_addresses("http://127.0.0.1:3999", "http://127.0.0.1:8880/") == {"web": "http://127.0.0.1:8880",
                                                                                            "websecure": "https://127.0.0.1"}
    assert routes.traefik_addresses("https://d.example.com", "http://10.0.0.5", "https://10.0.0.5:8443")["websecure"] == "https://10.0.0.5:8443"
