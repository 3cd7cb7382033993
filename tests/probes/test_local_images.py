"""Local image checks against the catalog: missing image, unexposed port, disagreeing healthcheck."""

from __future__ import annotations

from typing import Any

from core.catalog import resolve
from probes.local_images import check_local_images, facts_from_inspect
from tests.catalog_helpers import raw_catalog, settings

CATALOG = resolve(raw_catalog(), settings())


def inspect_data(image_id: str, ports: list[int], health: list[str] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"ExposedPorts": {f"{p}/tcp": {} for p in ports}}
    if health:
        config["Healthcheck"] = {"Test": health}
    return {"Id": image_id, "Config": config}


def test_matching_images_pass_and_give_ids() -> None:
    images = {s.local_image: inspect_data(f"sha256:{i:064x}", [s.port]) for i, s in enumerate(CATALOG.services.values())}
    report = check_local_images("staging", list(CATALOG.services.values()), images.get)
    assert report.errors == [] and report.warnings == []
    assert report.facts["brain-api"].image_id == f"sha256:{0:064x}"


def test_missing_image_is_an_error_naming_the_image() -> None:
    report = check_local_images("staging", [CATALOG.services["brain-api"]], lambda _: None)
    assert report.errors == [
        "stack staging: services/brain-api/local_image: image bizosaas-brain-gateway:latest "
        "does not exist in the Docker Engine (build it first)"
    ]


def test_port_the_image_does_not_expose_is_an_error() -> None:
    # The platform's old compose said wagtail-cms listens on 8000; its Dockerfile says 4000.
    svc = CATALOG.services["wagtail-cms"]
    report = check_local_images("staging", [svc], lambda _: inspect_data("sha256:" + "a" * 64, [8000]))
    assert report.errors == [
        "stack staging: services/wagtail-cms/port: 4000 is not a port image bizosaas-wagtail-cms:latest EXPOSEs (8000)"
    ]


def test_disagreeing_image_healthcheck_and_no_expose_are_warnings() -> None:
    svc = CATALOG.services["wagtail-cms"]
    probe = ["CMD-SHELL", "curl -f http://localhost:4000/admin/login/ || exit 1"]
    report = check_local_images("staging", [svc], lambda _: inspect_data("sha256:" + "b" * 64, [], probe))
    assert report.errors == []
    assert len(report.warnings) == 2
    assert "EXPOSEs no port" in report.warnings[0]
    assert "HEALTHCHECK probes" in report.warnings[1] and "/health/" in report.warnings[1]


def test_agreeing_image_healthcheck_is_not_reported() -> None:
    svc = CATALOG.services["brain-api"]
    probe = ["CMD-SHELL", "curl -f http://localhost:8001/health || exit 1"]
    report = check_local_images("staging", [svc], lambda _: inspect_data("sha256:" + "c" * 64, [8001], probe))
    assert report.errors == [] and report.warnings == []


def test_one_docker_inspect_finds_present_images_and_reports_missing_ones() -> None:
    import secrets

    from probes.local_images import docker_inspect_all
    from testkit.images import build_image

    tag = f"inspect-test-{secrets.token_hex(3)}:v1"
    image_id = build_image(tag, "x", 8080, "/health", variant=tag)
    try:
        inspect = docker_inspect_all([tag, f"missing-{secrets.token_hex(3)}:latest"])
        assert inspect(tag)["Id"] == image_id
        assert facts_from_inspect(inspect(tag)).exposed_ports == {8080}
        assert inspect("missing-image-never-built:latest") is None
    finally:
        import subprocess

        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
