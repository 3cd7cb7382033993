"""The deployctl command line, as an operator runs it (no environment prepared)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from deployctl import cli, engine, operations


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return subprocess.run([sys.executable, "-m", "deployctl", *args], capture_output=True, text=True, env=env,
                          cwd=engine.PROJECT_DIR, check=False, timeout=120)


def test_releases_of_a_stack_without_releases_prints_nothing_and_succeeds() -> None:
    out = run_cli("releases", "--stack", f"never-deployed-{secrets.token_hex(3)}")
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""


def test_rollback_to_an_unknown_release_names_the_stack_and_the_release() -> None:
    stack = f"never-deployed-{secrets.token_hex(3)}"
    out = run_cli("rollback", "--stack", stack, "--release", "r-000000000000")
    assert out.returncode != 0
    assert f"deployctl: stack {stack}: no release r-000000000000 in the stack's update history (known: none)" in out.stderr


def test_rollback_and_pin_need_a_release() -> None:
    out = run_cli("rollback", "--stack", "local")
    assert out.returncode == 2 and "rollback needs --release" in out.stderr
    out = run_cli("pin", "--stack", "local")
    assert out.returncode == 2 and "pin needs --release" in out.stderr


def test_cli_errors_are_one_line_without_traceback() -> None:
    out = run_cli("rollback", "--stack", "nothing-here", "--release", "previous")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "deployctl: stack nothing-here: no release has been recorded (has `pulumi up` run with this program?)"
    )


def test_engine_errors_name_the_resource_they_are_about() -> None:
    from deployctl.operations import _named

    urn = "urn:pulumi:s::bizosaas-deploy::pulumi-python:dynamic/dokploy:ComposeProject::backend"
    assert _named(urn, "deploy failed") == "backend (dokploy:ComposeProject): deploy failed"
    assert _named("urn:pulumi:s::bizosaas-deploy::pulumi:pulumi:Stack::bizosaas-deploy-s", "bad config") == "bad config"
    assert _named("", "engine error") == "engine error"


def test_a_programming_error_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the errors meant for the operator are one line: a KeyError inside an operation is a bug to be seen whole."""

    def broken(stack: str) -> None:
        raise KeyError("compose_project_ids")

    monkeypatch.setattr(engine, "engine_env", dict)  # the real one updates os.environ for the rest of the session
    monkeypatch.setattr(operations, "preview", broken)
    with pytest.raises(KeyError, match="compose_project_ids"):
        cli.main(["preview", "--stack", "local"])


def test_logs_takes_the_service_after_the_options_as_the_readme_writes_it() -> None:
    stack = f"never-made-{secrets.token_hex(3)}"
    out = run_cli("logs", "--stack", stack, "brain-api", "--tail", "5")
    assert out.returncode == 1 and out.stderr.startswith(f"deployctl: stack {stack}: no Pulumi.{stack}.yaml in "), out.stderr
    out = run_cli("logs", "--stack", stack)
    assert out.returncode == 2 and "logs needs the service" in out.stderr
