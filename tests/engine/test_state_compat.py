"""A stack deployed by the code as it was before the module split (state written at commit 47d314e)
still refreshes, previews, updates and destroys with today's code.

The fixture (``landed_state/``: the exported checkpoint, its stack file and the Dokploy stand-in's
database, recorded by ``landed_state/record.py``) holds providers pickled by module path as
``components.dokploy_provider.*``. Refresh and destroy run those old pickles; an update runs the
new provider against the old state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from components.stack_config import MIGRATE
from deployctl import engine
from testkit.dokploy import FakeDokploy

pytestmark = pytest.mark.engine
FIXTURE = Path(__file__).resolve().parent / "landed_state"
PASSPHRASE = "landed-state-fixture"  # encrypts only the fixture's fake values
KEY = "fixture-dokploy-key-0000000000000000"
RECORDED_URL = "http://127.0.0.1:35643"
STACK = "landed"


class Landed:
    """The recorded stack imported into a fresh backend, its Dokploy stand-in serving the recorded database."""

    def __init__(self, tmp: Path) -> None:
        shutil.copy(FIXTURE / "dokploy.json", tmp / "dokploy.json")
        self.srv = FakeDokploy(api_keys={KEY}, docker=False, latency=0, state_file=tmp / "dokploy.json", deploy_start_delay=0.05,
                               deploy_duration=0.05)
        self.srv.start()
        self.work = tmp / "project"
        self.work.mkdir()
        shutil.copy(engine.PROJECT_DIR / "Pulumi.yaml", self.work / "Pulumi.yaml")
        stack_file = (FIXTURE / "stack.yaml").read_text().replace(RECORDED_URL, self.srv.base_url)
        (self.work / f"Pulumi.{STACK}.yaml").write_text(migrate_stack_file(stack_file))
        self.stack = engine.stack(STACK, program=engine.inline_program, work_dir=self.work)
        state = json.loads((FIXTURE / "state.json").read_text().replace(RECORDED_URL, self.srv.base_url))
        self.stack.import_stack(auto.Deployment(version=3, deployment=state))

    def composes(self) -> list[dict[str, Any]]:
        return list(self.srv.state.snapshot()["composes"])

    def registries(self) -> list[dict[str, Any]]:
        return list(self.srv.state.snapshot()["registries"])

    def set_plain(self, key: str, value: Any) -> None:
        path = self.work / f"Pulumi.{STACK}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["config"][key] = value
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


def migrate_stack_file(text: str) -> str:
    """The recorded stack file after the documented one-line migration (components.stack_config.MIGRATE), run for real."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"Pulumi.{STACK}.yaml"
        path.write_text(text)
        subprocess.run(["sh", "-c", MIGRATE.format(stack=STACK)], cwd=tmp, check=True)
        return path.read_text()


@pytest.fixture
def landed(tmp_path: Path) -> Iterator[Landed]:
    saved = {k: os.environ.get(k) for k in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE")}
    os.environ["PULUMI_BACKEND_URL"] = (tmp_path / "backend").as_uri()
    os.environ["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    (tmp_path / "backend").mkdir()
    world = Landed(tmp_path)
    try:
        yield world
    finally:
        world.srv.stop()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def ops(result: auto.UpResult | auto.RefreshResult | auto.PreviewResult) -> dict[str, int]:
    changes = result.change_summary if isinstance(result, auto.PreviewResult) else result.summary.resource_changes
    return {str(k): v for k, v in (changes or {}).items() if str(k) != "same"}


def test_landed_state_refreshes_previews_clean_and_destroys_with_its_pickled_providers(landed: Landed) -> None:
    assert len(landed.composes()) == 2 and len(landed.registries()) == 1
    refreshed = landed.stack.refresh(color="never")
    assert ops(refreshed) == {}, refreshed.stdout  # the old pickles read Dokploy and find nothing changed
    preview = landed.stack.preview(color="never", diff=True)
    assert "replace" not in ops(preview) and "delete" not in ops(preview), preview.stdout
    landed.stack.destroy(color="never")  # runs the providers pickled by the landed code
    assert landed.composes() == [] and landed.registries() == []


def test_landed_state_updates_in_place_with_the_new_providers(landed: Landed) -> None:
    landed.set_plain(
        "bizosaas-deploy:env", {**yaml.safe_load((FIXTURE / "stack.yaml").read_text())["config"]["bizosaas:env"], "LOG_LEVEL": "DEBUG"}
    )
    before = {c["composeId"] for c in landed.composes()}
    landed.srv.reset_calls()
    result = landed.stack.up(color="never")
    changed = ops(result)
    assert "replace" not in changed and "delete" not in changed and changed.get("update", 0) >= 1, result.stdout
    assert {c["composeId"] for c in landed.composes()} == before  # the same composes, redeployed
    assert landed.stack.outputs()["release_id"].value.startswith("r-")
    landed.stack.destroy(color="never")
    assert landed.composes() == [] and landed.registries() == []
