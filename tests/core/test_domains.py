"""Routes as Dokploy domains: the request bodies, the reconcile plan, and what a refresh reports."""

from __future__ import annotations

from typing import Any

from core import domains

API = {"host": "api.example.com", "path": "/", "port": 8001, "https": True, "certificate": "letsencrypt", "cert_resolver": "",
       "health": "/health"}
WEB = {"host": "example.com", "path": "/", "port": 3000, "https": True, "certificate": "letsencrypt", "cert_resolver": "",
       "health": "/api/health"}


def row(service: str, route: dict[str, Any], domain_id: str, **changed: Any) -> dict[str, Any]:
    """A domain row as Dokploy returns it for ``route`` (every column), with some fields changed."""
    base = {"domainId": domain_id, "host": route["host"], "https": route["https"], "port": route["port"], "customEntrypoint": None,
            "path": route["path"], "serviceName": service, "domainType": "compose", "uniqueConfigKey": 7, "createdAt": "2026-01-01",
            "composeId": "c1", "customCertResolver": None, "applicationId": None, "previewDeploymentId": None,
            "certificateType": route["certificate"], "internalPath": "/", "stripPath": route["path"] != "/", "middlewares": [],
            "forwardAuthEnabled": False, "enabled": True}
    return {**base, **changed}


def test_the_bodies_are_what_the_openapi_document_allows() -> None:
    body = domains.create_body("c1", "brain-api", {**API, "path": "/v1", "https": False, "certificate": "none"})
    assert body == {"host": "api.example.com", "path": "/v1", "port": 8001, "https": False, "certificateType": "none",
                    "customCertResolver": None, "serviceName": "brain-api", "domainType": "compose", "customEntrypoint": None,
                    "stripPath": True, "internalPath": "/", "composeId": "c1"}
    update = domains.update_body("d1", "brain-api", API)
    assert update["domainId"] == "d1" and update["enabled"] is True and update["stripPath"] is False
    assert "enabled" not in domains.create_body("c1", "brain-api", API)  # not an input of domain.create


def test_nothing_to_do_when_dokploy_holds_the_routes_as_declared() -> None:
    live = [row("brain-api", API, "d1"), row("bizoholic-frontend", WEB, "d2")]
    declared = {"brain-api": API, "bizoholic-frontend": WEB}
    assert not domains.plan(declared, live)
    assert domains.drift(declared, live) == []
    assert domains.live_view(declared, live) == declared
    assert not domains.plan(declared, [row("brain-api", {**API, "port": 8001.0}, "d1"), row("bizoholic-frontend", WEB, "d2")])


def test_a_missing_route_is_created_a_changed_one_updated_and_an_undeclared_domain_deleted() -> None:
    live = [row("brain-api", API, "d1", port=9999), row("admin", {**WEB, "host": "admin.example.com"}, "d3")]
    plan = domains.plan({"brain-api": API, "bizoholic-frontend": WEB}, live)
    assert [(r["domainId"], s) for r, s, _ in plan.update] == [("d1", "brain-api")]
    assert [s for s, _ in plan.create] == ["bizoholic-frontend"]
    assert [r["domainId"] for r in plan.delete] == ["d3"]
    assert plan.describe() == [
        "create example.com -> bizoholic-frontend", "update api.example.com -> brain-api", "delete admin.example.com"]


def test_a_domain_with_the_routes_host_is_adopted_and_a_services_domain_follows_a_new_host() -> None:
    by_hand = row("web", API, "d9", serviceName=None, domainType="application", certificateType="none", https=False)
    plan = domains.plan({"brain-api": API}, [by_hand])
    assert plan.update and not plan.create and not plan.delete  # adopted, not duplicated
    moved = domains.plan({"brain-api": {**API, "host": "gateway.example.com"}}, [row("brain-api", API, "d1")])
    assert [(r["domainId"], route["host"]) for r, _, route in moved.update] == [("d1", "gateway.example.com")]
    assert not moved.create and not moved.delete


def test_a_refresh_reports_edits_removals_and_additions_and_records_them_as_the_routes() -> None:
    declared = {"brain-api": API, "bizoholic-frontend": WEB}
    live = [row("brain-api", API, "d1", host="api2.example.com", enabled=False), row("x", WEB, "d4", host="extra.example.com")]
    drift = domains.drift(declared, live)
    assert drift == [
        "the domain api.example.com of service brain-api was changed in Dokploy (host, enabled)",
        "the domain example.com of service bizoholic-frontend was removed in Dokploy",
        "Dokploy holds a domain no route declares: extra.example.com (service x)",
    ]
    view = domains.live_view(declared, live)
    assert view["brain-api"]["host"] == "api2.example.com" and view["brain-api"]["enabled"] is False
    assert "bizoholic-frontend" not in view
    assert view["(not declared) extra.example.com"]["service"] == "x"
    assert domains.declared(view) == {"brain-api": view["brain-api"]}
