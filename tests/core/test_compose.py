"""Compose rendering: golden files, structure, determinism, no secret values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from core.catalog import resolve
from core.compose import RenderError, render_compose
from core.dotenv import DotenvError, render_env
from tests.catalog_helpers import fake_digest, raw_catalog, settings

GOLDEN = Path(__file__).parent / "golden"
CATALOG = resolve(raw_catalog(), settings())
DIGESTS = {name: fake_digest(name) for name in CATALOG.services}
SECRETS = {name: f"s3cr3t-{name.lower()}-value" for name in CATALOG.required_secrets()}


@pytest.mark.parametrize("group", ["backend", "frontend"])
def test_render_matches_golden_file(group: str) -> None:
    text = render_compose(CATALOG, group, DIGESTS)
    golden = GOLDEN / f"{group}.compose.yml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_backend_structure_pins_digests_and_refers_to_secrets() -> None:
    doc = yaml.safe_load(render_compose(CATALOG, "backend", DIGESTS))
    assert list(doc["services"]) == [s.name for s in CATALOG.group("backend")]
    assert doc["networks"] == {"dokploy-network": {"external": True}}
    brain = doc["services"]["brain-api"]
    assert brain["image"] == f"ghcr.io/bizoholic-digital/bizosaas-platform/brain-api@{DIGESTS['brain-api']}"
    assert brain["container_name"] == "bizosaas-brain-staging"
    assert "ports" not in brain  # no host port unless the stack asks for one
    assert brain["restart"] == "unless-stopped"
    assert brain["networks"] == ["dokploy-network"]
    assert brain["environment"]["DATABASE_URL"] == "${DATABASE_URL}"
    assert brain["environment"]["REDIS_URL"] == "${REDIS_BASE_URL}/0"
    assert brain["environment"]["ENVIRONMENT"] == "staging"
    assert brain["healthcheck"]["test"] == ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8001/health"]  # no shell
    asked = resolve(raw_catalog(), settings(services={"brain-api": {"published": True}, "auth-service": {"published": 18006}}))
    published = yaml.safe_load(render_compose(asked, "backend", DIGESTS))["services"]
    assert published["brain-api"]["ports"] == ["127.0.0.1:8001:8001"]  # true: the catalog's port; loopback unless publishAddress
    assert published["auth-service"]["ports"] == ["127.0.0.1:18006:8007"]
    assert all("ports" not in svc for name, svc in published.items() if name not in ("brain-api", "auth-service"))
    assert doc["services"]["ai-agents"]["environment"]["BRAIN_API_URL"] == "http://bizosaas-brain-staging:8001"


def test_frontend_urls_are_derived_from_the_catalog() -> None:
    doc = yaml.safe_load(render_compose(CATALOG, "frontend", DIGESTS))
    portal = doc["services"]["client-portal"]["environment"]
    assert portal["NEXT_PUBLIC_API_BASE_URL"] == "http://bizosaas-brain-staging:8001"
    assert portal["NEXT_PUBLIC_CRM_API_URL"] == "http://bizosaas-django-crm-staging:8003"
    assert portal["NEXT_PUBLIC_CMS_API_URL"] == "http://bizosaas-wagtail-staging:4000"
    directory = doc["services"]["business-directory-frontend"]["environment"]
    assert directory["NEXT_PUBLIC_DIRECTORY_API_URL"] == "http://bizosaas-business-directory-staging:8000"
    assert all("@sha256:" in s["image"] for s in doc["services"].values())


def test_same_inputs_give_the_same_bytes_and_a_new_digest_changes_one_line() -> None:
    a = render_compose(CATALOG, "backend", DIGESTS)
    assert a == render_compose(CATALOG, "backend", dict(DIGESTS))
    changed = render_compose(CATALOG, "backend", {**DIGESTS, "brain-api": fake_digest("other")})
    diff = [(x, y) for x, y in zip(a.splitlines(), changed.splitlines(), strict=True) if x != y]
    assert len(diff) == 1 and "brain-api@" in diff[0][1]


def test_no_secret_value_in_compose_text_and_all_in_env_text() -> None:
    for group in ("backend", "frontend"):
        text = render_compose(CATALOG, group, DIGESTS)
        assert not [v for v in SECRETS.values() if v in text]
    env = render_env(CATALOG, "backend", SECRETS)
    assert env.splitlines() == [f"{k}='{SECRETS[k]}'" for k in sorted(SECRETS)]
    assert render_env(CATALOG, "frontend", SECRETS) == ""


def test_bad_digest_and_bad_secret_are_refused_without_the_value() -> None:
    with pytest.raises(RenderError, match="brain-api: 'latest' is not a sha256 digest"):
        render_compose(CATALOG, "backend", {**DIGESTS, "brain-api": "latest"})
    with pytest.raises(DotenvError) as err:
        render_env(CATALOG, "backend", {**SECRETS, "JWT_SECRET": "nul\x00-s3cr3t"})
    assert "JWT_SECRET" in str(err.value) and "s3cr3t" not in str(err.value)
    with pytest.raises(DotenvError, match="secret SECRET_KEY is not set"):
        render_env(CATALOG, "backend", {k: v for k, v in SECRETS.items() if k != "SECRET_KEY"})


def test_a_start_interval_in_the_catalog_reaches_every_healthcheck() -> None:
    raw = raw_catalog()
    raw["defaults"]["healthcheck"] = {**raw["defaults"]["healthcheck"], "start_interval": "1s"}
    doc = yaml.safe_load(render_compose(resolve(raw, settings()), "backend", DIGESTS))
    timings = {name: (s["healthcheck"]["interval"], s["healthcheck"]["start_interval"]) for name, s in doc["services"].items()}
    assert set(timings.values()) == {("10s", "1s")} and len(timings) == len(CATALOG.group("backend"))
