"""Before anything runs: the engine's plugins are there (or the stand-ins are on), and the stack's Dokploy answers; each failure is one
line with the fix (deployctl/plugins.py, deployctl/target.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from deployctl import engine, plugins, target
from testkit import ports


def closed_port() -> int:
    return ports.free_port()


def test_missing_plugins_are_named_with_the_fix_and_found_where_the_engine_looks(tmp_path: Path) -> None:
    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    bin_dir.mkdir()
    env = {"PATH": str(bin_dir), "PULUMI_HOME": str(home)}
    line = plugins.missing_message("destroy --stack local", env, standins=False)
    docker, command = plugins.NEEDED[1].version(), plugins.NEEDED[2].version()
    assert line.startswith(
        "deployctl: destroy --stack local needs the Pulumi plugins pulumi-language-python, "
        f"pulumi-resource-docker {docker}, pulumi-resource-command {command}, which are not installed here"
    )
    assert "`BIZOSAAS_STANDINS=1 venv/bin/python -m deployctl destroy --stack local`" in line and "\n" not in line
    assert f"pulumi plugin install resource docker {docker} && pulumi plugin install resource command {command}" in line
    assert plugins.missing_message("up --stack s", env, standins=True) == ""  # testkit/bin first on PATH, downloads off
    (bin_dir / "pulumi-language-python").write_text("#!/bin/sh\n")  # on PATH
    (bin_dir / "pulumi-language-python").chmod(0o755)
    installed = home / "plugins" / f"resource-docker-v{docker}" / "pulumi-resource-docker"  # `pulumi plugin install`
    installed.parent.mkdir(parents=True)
    installed.write_text("")
    assert plugins.missing_message("up --stack s", env, standins=False).split(" needs the Pulumi plugins ")[1].startswith(
        f"pulumi-resource-command {command}, which")


def test_deployctl_outside_make_says_so_in_one_line_before_the_engine_downloads_anything(tmp_path: Path) -> None:
    """What a new user ran after `make demo`: no stand-in switch, no plugin: one line, at once, not five download attempts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "BIZOSAAS_"))}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", PULUMI_HOME=str(tmp_path / "home"))
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "deployctl", "destroy", "--stack", "never-made"], cwd=engine.PROJECT_DIR, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 1 and out.stdout == ""
    [line] = out.stderr.splitlines()
    assert line.startswith("deployctl: destroy --stack never-made needs the Pulumi plugins pulumi-language-python"), line
    assert "Could not automatically download" not in out.stderr and time.monotonic() - started < 60


def write_stack(work: Path, stack: str, **config: object) -> None:
    (work / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {f"bizosaas-deploy:{k}": v for k, v in config.items()}}))


def test_a_local_stacks_dokploy_that_does_not_answer_names_the_url_and_the_command_that_starts_the_standin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "stacks"
    templates.mkdir()
    (templates / "mine.yaml").write_text("config: {}\n")
    monkeypatch.setattr(target, "TEMPLATES", templates)
    url = f"http://127.0.0.1:{closed_port()}"
    write_stack(tmp_path, "mine", dokployUrl=url)
    write_stack(tmp_path, "remote", dokployUrl=url, dokployProject="shop")
    local = target.read("mine", tmp_path)
    assert (local.url, local.project, local.environment, local.local) == (url, "bizosaas-mine", "production", True)
    with pytest.raises(target.TargetError) as info:
        target.check_answers(local, timeout=2)
    assert str(info.value) == (
        f"stack mine: Dokploy at {url} does not answer (could not connect): start the Dokploy stand-in of this local stack with "
        "`venv/bin/python -m deployctl standin --stack mine` (make demo starts it too)"
    )
    remote = target.read("remote", tmp_path)  # not made from a template: a Dokploy of one's own
    assert (remote.project, remote.local) == ("shop", False)
    with pytest.raises(target.TargetError) as info:
        target.check_answers(remote, timeout=2)
    assert str(info.value) == (
        f"stack remote: Dokploy at {url} does not answer (could not connect): check that Dokploy runs there "
        "(bizosaas-deploy:dokployUrl in Pulumi.remote.yaml)"
    )
    with pytest.raises(target.TargetError, match=r"stack gone: no Pulumi.gone.yaml in "):
        target.read("gone", tmp_path)
    write_stack(tmp_path, "plain", dokployUrl="http://dokploy.example.com")
    with pytest.raises(target.TargetError, match=r"stack plain: bizosaas-deploy:dokployUrl: refusing plain http:// to dokploy.example"):
        target.read("plain", tmp_path)


def test_an_engine_command_whose_dokploy_does_not_answer_stops_before_the_engine_naming_the_url(tmp_path: Path) -> None:
    """What a new user met: `destroy` failing after 5 connection attempts. Now one line, before the engine starts."""
    stack = f"test-{os.urandom(3).hex()}-down"
    url = f"http://127.0.0.1:{closed_port()}"
    write_stack(engine.PROJECT_DIR, stack, dokployUrl=url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(BIZOSAAS_STANDINS="1", PULUMI_BACKEND_URL=(tmp_path / "backend").as_uri())
    try:
        out = subprocess.run([sys.executable, "-m", "deployctl", "destroy", "--stack", stack], cwd=engine.PROJECT_DIR, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    finally:
        (engine.PROJECT_DIR / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == (
        f"deployctl: stack {stack}: Dokploy at {url} does not answer (could not connect): check that Dokploy runs there "
        f"(bizosaas-deploy:dokployUrl in Pulumi.{stack}.yaml)"
    )
