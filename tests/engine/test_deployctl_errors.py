"""deployctl on a stack with bad config: every problem printed once, exit 1, no Python traceback."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deployctl import engine

pytestmark = pytest.mark.engine
ROOT = engine.PROJECT_DIR


def test_bad_config_is_listed_once_per_problem_without_a_traceback(tmp_path: Path) -> None:
    stack = f"test-{secrets.token_hex(3)}-bad"
    config = yaml.safe_load((ROOT / "stacks" / "local.yaml").read_text())["config"]
    config["bizosaas:dokployUrl"] = config.pop("bizosaas-deploy:dokployUrl")  # a leftover of the old namespace
    config["bizosaas-deploy:healthTimout"] = 5  # a typo
    stack_file = ROOT / f"Pulumi.{stack}.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))
    env = {**os.environ, "PULUMI_BACKEND_URL": (tmp_path / "backend").as_uri(), "BIZOSAAS_STANDINS": "1"}
    env.pop("DOKPLOY_API_KEY", None)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "deployctl", "preview", "--stack", stack],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        stack_file.unlink(missing_ok=True)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "Traceback" not in text
    expected = [
        f"stack {stack}: bizosaas-deploy:healthTimout: unknown key; did you mean healthTimeout?",
        f"stack {stack}: bizosaas:dokployUrl: this program reads the bizosaas-deploy: namespace",
        f"stack {stack}: bizosaas-deploy:dokployUrl: is required",
        f"stack {stack}: bizosaas-deploy:secrets/DATABASE_URL: is required by services brain-api",
    ]
    for line in expected:
        assert text.count(line) == 1, f"{line!r} should appear once:\n{text}"
    assert out.stderr.startswith(f"deployctl: preview --stack {stack} failed:\n")
    assert "dokployApiKey: is required" not in text  # a preview calls nothing in Dokploy: it needs no API key
