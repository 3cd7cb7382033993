"""The README's own commands, extracted from README.md and run verbatim with the standard `pulumi` CLI.

The user's route is the tested route: the block marked ``<!-- readme-test: staging -->`` is read
from README.md at test time (so README and test cannot drift apart) and each line runs with
``bash -c`` in a copy of the project, as a new user would type it, with the values the commands
read from the environment (fake, random). The preview then has to be clean. A key set in the old
``bizosaas:`` namespace must stop the next preview with one clear error.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deployctl import engine
from testkit import images

pytestmark = pytest.mark.engine
ROOT = engine.PROJECT_DIR
SECRET_ENV = (
    "DOKPLOY_API_KEY",
    "GHCR_PUSH_TOKEN",
    "GHCR_PULL_TOKEN",
    "DATABASE_URL",
    "REDIS_BASE_URL",
    "OPENAI_API_KEY",
    "SECRET_KEY",
    "JWT_SECRET",
    "AMAZON_ACCESS_KEY",
    "AMAZON_SECRET_KEY",
)


def readme_block(name: str) -> list[str]:
    """The command lines of the README block marked ``<!-- readme-test: name -->``."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- readme-test: {re.escape(name)} -->\n```sh\n(.*?)```", text, re.DOTALL)
    assert match, f"README.md has no block marked readme-test: {name}"
    return [line for line in match.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


class User:
    """A new user's shell: their HOME, their PATH (the standard CLI first), the values they exported."""

    def __init__(self, tmp: Path) -> None:
        self.project = tmp / "bizosaas-deploy"
        tracked = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        for rel in tracked:
            if (ROOT / rel).is_file():
                (self.project / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, self.project / rel)
        (self.project / "venv").symlink_to(ROOT / "venv")  # what `python3 -m venv venv && pip install` made
        home = tmp / "home"
        home.mkdir()
        self.values = {name: f"fake-{name.lower()}-{secrets.token_hex(8)}" for name in SECRET_ENV}
        keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "DOCKER_HOST", "TMPDIR")}
        self.env = {
            **keep,
            **self.values,
            "HOME": str(home),
            "PULUMI_HOME": str(home / ".pulumi"),  # the CLI finds its home through the passwd entry, not HOME
            # the standard CLI, with this machine's stand-ins for what cannot be installed here (testkit/README.md)
            "PATH": os.pathsep.join([str(ROOT / "testkit" / "bin"), str(engine.TOOLS_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_hex(16),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        }

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", line], cwd=self.project, env=self.env, capture_output=True, text=True, timeout=600, check=False
        )


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> User:
    images.build_catalog_images(yaml.safe_load((ROOT / "catalog.yaml").read_text()))  # "after building the 14 images locally"
    return User(tmp_path_factory.mktemp("readme"))


def test_the_readme_staging_commands_run_verbatim_and_give_a_clean_preview(user: User) -> None:
    lines = readme_block("staging")
    assert "pulumi login" in lines[0] and lines[-1].startswith("pulumi preview")
    for line in lines:
        result = user.run(line)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"README line failed: {line}\n{output[-3000:]}"
        leaked = [name for name, value in user.values.items() if value in output]
        assert leaked == [], f"{line} printed the value of {leaked}"
    preview = output
    assert "bizosaas:index:ServiceImage" in preview and "pulumi-python:dynamic/dokploy:ComposeProject" in preview
    # 49 without the test gate (48 + the ReleaseRecord), + 14 ServiceTest components and their 14 command:local:Command
    assert re.search(r"\+ 77 to create", preview), preview[-2000:]
    stack_file = (user.project / "Pulumi.staging.yaml").read_text()
    assert "bizosaas-deploy:dokployApiKey:\n    secure:" in stack_file and "bizosaas:" not in stack_file
    assert not [v for v in user.values.values() if v in stack_file]


def test_a_key_in_the_old_namespace_stops_the_preview_with_one_clear_error(user: User) -> None:
    assert user.run("pulumi config set bizosaas:dokployUrl https://dokploy.example.test").returncode == 0
    try:
        result = user.run("pulumi preview --diff")
        output = result.stdout + result.stderr
        assert result.returncode != 0
        expected = (
            "stack staging: bizosaas:dokployUrl: this program reads the bizosaas-deploy: namespace (the project name), not bizosaas: ; "
            "set it again with `pulumi config set dokployUrl <value>`"
        )
        assert output.count(expected) == 1, output[-3000:]
        assert "Traceback" not in output
    finally:
        user.run("pulumi config rm bizosaas:dokployUrl")
