"""`pulumi preview` of the real staging settings (dummy secrets, a test stack) through the engine:
exactly 14 image tests, 14 image pushes and the two compose projects, and no secret in what the engine prints."""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from deployctl import engine, local_stack
from testkit import images

pytestmark = pytest.mark.engine
ROOT = engine.PROJECT_DIR


@pytest.fixture
def staging_copy(tmp_path: Path) -> Iterator[tuple[auto.Stack, list[str]]]:
    saved = os.environ.get("PULUMI_BACKEND_URL")
    os.environ["PULUMI_BACKEND_URL"] = (tmp_path / "backend").as_uri()
    name = f"test-{secrets.token_hex(3)}-staging"
    st = local_stack.init_from(name, ROOT / "Pulumi.staging.yaml")
    dummies = []
    for key in ("registryToken", "registryPullToken"):
        value = f"dummy-{key}-{secrets.token_hex(8)}"
        dummies.append(value)
        st.set_config(f"bizosaas-deploy:{key}", auto.ConfigValue(value, secret=True))
    dummies += list(json.loads(st.get_all_config()["bizosaas-deploy:secrets"].value).values())
    assert len(dummies) == 2 + len(local_stack.catalog_secret_names())
    try:
        yield st, dummies
    finally:
        (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)
        if saved is None:
            os.environ.pop("PULUMI_BACKEND_URL", None)
        else:
            os.environ["PULUMI_BACKEND_URL"] = saved


def test_staging_preview_lists_14_pushes_and_two_compose_projects(staging_copy: tuple[auto.Stack, list[str]]) -> None:
    st, dummies = staging_copy
    raw = yaml.safe_load((ROOT / "catalog.yaml").read_text())
    images.build_catalog_images(raw, variant="v1")
    creates: Counter[str] = Counter()
    printed: list[str] = []

    def on_event(event: auto.EngineEvent) -> None:
        md = event.resource_pre_event.metadata if event.resource_pre_event else None
        if md and str(md.op.value if hasattr(md.op, "value") else md.op) == "create":
            creates[md.type] += 1

    result = st.preview(color="never", diff=True, on_event=on_event, on_output=printed.append)
    assert creates["docker:index/registryImage:RegistryImage"] == 14
    assert creates["docker:index/tag:Tag"] == 14
    assert creates["command:local:Command"] == creates["bizosaas:index:ServiceTest"] == 14  # every image tested before its push
    assert creates["pulumi-python:dynamic/dokploy:ComposeProject"] == 2
    assert creates["pulumi-python:dynamic/dokploy:Registry"] == 1
    text = "".join(printed) + result.stdout
    assert "ghcr.io/bizoholic-digital/bizosaas-platform/brain-api:staging" in text
    assert not [d for d in dummies if d and d in text], "a secret value reached the preview output"


def test_missing_secret_stops_preview_with_one_clear_message(staging_copy: tuple[auto.Stack, list[str]]) -> None:
    st, _ = staging_copy
    st.remove_config("bizosaas-deploy:secrets.JWT_SECRET", path=True)
    st.set_config("bizosaas-deploy:env.JWT_SECRET", auto.ConfigValue("plain-value-here"), path=True)
    with pytest.raises(auto.errors.CommandError) as err:
        st.preview(color="never")
    text = str(err.value)
    name = st.name
    assert f"stack {name}: bizosaas-deploy:secrets/JWT_SECRET: is required by service auth-service" in text
    assert f"stack {name}: bizosaas-deploy:env/JWT_SECRET: is a secret" in text
    assert "Traceback" not in text
