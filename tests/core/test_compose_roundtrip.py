"""What the real `docker compose` reads from a rendered project: every value arrives exactly as given.

The rendered compose file and dotenv text go the way Dokploy takes them (its dotenv parse and the `KEY="..."`
lines it writes, modelled by the stand-in's testkit/dokploy/envtext.py) into the compose v2 plugin's own parser
(`docker compose config`), the one Dokploy's deploy runs: a `$` in a stack's literal value is not
interpolated, and a secret with quotes, `$`, backslashes, `#`, spaces, newlines or unicode
round-trips through the `.env` file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.catalog import resolve
from core.compose import render_compose
from core.dotenv import render_env
from testkit.dokploy.envtext import for_file, prepare
from tests.catalog_helpers import STACK_ENV, fake_digest, raw_catalog, settings

ODD_SECRETS = {
    "DATABASE_URL": "postgresql://u:it's-\"q\"-$HOME-${X}@db:5432/x",
    "REDIS_BASE_URL": "redis://:p#ss w0rd\\n@r:6380",
    "OPENAI_API_KEY": "sk-line1\nline2",
    "SECRET_KEY": "tab\there, cr\rhere, ünïcödé 🎉",
    "JWT_SECRET": "'",
    "AMAZON_ACCESS_KEY": "$",
    "AMAZON_SECRET_KEY": "a=b=c '\" $$ \\\\",
}


def compose_config(tmp: Path, compose: str, env: str) -> dict[str, Any]:
    (tmp / "docker-compose.yml").write_text(compose)
    (tmp / ".env").write_text(env)
    out = subprocess.run(["docker", "compose", "config", "--format", "json"], cwd=tmp, capture_output=True, text=True,
                         env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp), "X": "interpolated!"}, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI with the compose plugin is installed by scripts/setup.sh")
def test_secrets_and_literal_dollars_reach_the_containers_unchanged(tmp_path: Path) -> None:
    env = {**STACK_ENV, "LOG_LEVEL": "pa$word ${NOT_A_SECRET} $$"}
    catalog = resolve(raw_catalog(), settings(env=env))
    digests = {n: fake_digest(n) for n in catalog.services}
    dokploy_env = "\n".join(for_file(prepare(render_env(catalog, "backend", ODD_SECRETS), "", "")))  # what Dokploy writes
    resolved = compose_config(tmp_path, render_compose(catalog, "backend", digests), dokploy_env)
    brain = resolved["services"]["brain-api"]["environment"]

    def value(v: str) -> str:  # `compose config` prints a literal $ as $$
        return v.replace("$$", "$")

    assert value(brain["LOG_LEVEL"]) == "pa$word ${NOT_A_SECRET} $$"
    assert value(brain["DATABASE_URL"]) == ODD_SECRETS["DATABASE_URL"]
    assert value(brain["OPENAI_API_KEY"]) == ODD_SECRETS["OPENAI_API_KEY"]
    assert value(brain["REDIS_URL"]) == ODD_SECRETS["REDIS_BASE_URL"] + "/0"  # the catalog's ${REF} is still interpolated
    auth = resolved["services"]["auth-service"]["environment"]
    assert value(auth["SECRET_KEY"]) == ODD_SECRETS["SECRET_KEY"] and value(auth["JWT_SECRET"]) == "'"
    amazon = resolved["services"]["amazon-sourcing"]["environment"]
    assert value(amazon["AMAZON_ACCESS_KEY"]) == "$" and value(amazon["AMAZON_SECRET_KEY"]) == ODD_SECRETS["AMAZON_SECRET_KEY"]
