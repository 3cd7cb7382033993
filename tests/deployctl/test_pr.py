"""`deployctl pr` without the engine: every problem said before anything is destroyed, pushed or deployed; the sweep keeps an
environment GitHub cannot tell about; a comment that cannot be posted changes nothing. (The lifecycle through the real engine:
tests/engine/test_pr_environments.py.)"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployctl import cli, engine, github, pr
from testkit.github_stub import GitHubStub

PROJECT = "bizosaas-deploy"


@pytest.fixture
def stub() -> Iterator[GitHubStub]:
    s = GitHubStub("bizoholic-digital/prenv-test", secrets.token_hex(8)).start()
    yield s
    s.stop()


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stub: GitHubStub) -> Path:
    """A file backend of this test's own, the stub's GitHub, a seed; nothing else of the PR settings."""
    for name in ("PR_BASE_DOMAIN", "PR_ENVIRONMENT_CAP", "PR_TEMPLATE", "PR_PREVIEW_SECRETS", "DOKPLOY_API_KEY", "CI", "PR_SECRETS_SEED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PULUMI_BACKEND_URL", (tmp_path / "backend").as_uri())
    for name, value in stub.env().items():
        monkeypatch.setenv(name, value)
    return tmp_path / "backend"


def test_every_problem_is_said_before_anything_happens(settings: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    number = 90_000 + secrets.randbelow(9_000)
    monkeypatch.setenv("PR_SECRETS_SEED", "seed")
    monkeypatch.setenv("PR_PREVIEW_SECRETS", "DATABASE_URL,NOT_A_SECRET")
    assert cli.main(["pr", "up", "--pr", str(number)]) == 1
    err = capsys.readouterr().err
    stack = f"pr-{number}"
    assert f"stack {stack}: PR_BASE_DOMAIN: '' should be a lower-case DNS name" in err
    assert f"stack {stack}: {PROJECT}:secrets/DATABASE_URL: PR_PREVIEW_SECRETS names it, but PR_SECRET_DATABASE_URL is not set" in err
    assert f"stack {stack}: PR_PREVIEW_SECRETS: NOT_A_SECRET is not a secret of the catalog" in err
    assert f"stack {stack}: DOKPLOY_API_KEY is not set: the PR environments' own Dokploy API key" in err
    assert f"stack {stack}: {PROJECT}:registryToken: PR_REGISTRY_TOKEN is not set (registryUser is in the template)" in err
    assert not (engine.PROJECT_DIR / f"Pulumi.{stack}.yaml").exists() and not any(settings.rglob("*"))  # nothing written


def test_settings_that_cannot_work_are_refused(settings: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PR_ENVIRONMENT_CAP", "three")
    with pytest.raises(pr.PrError, match="PR_ENVIRONMENT_CAP 'three' should be a whole number"):
        pr.Settings.from_env()
    monkeypatch.setenv("PR_ENVIRONMENT_CAP", "2")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pr.PrError, match="PR_SECRETS_SEED is not set: under CI every run would make other throw-away secrets"):
        pr.Settings.from_env().seed()
    with pytest.raises(SystemExit):
        cli.main(["pr", "up"])  # no --pr: argparse says so


def stack_in(backend: Path, stack: str) -> None:
    key = backend / ".pulumi" / "stacks" / PROJECT / f"{stack}.json"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("{}")


def test_the_sweep_keeps_what_github_cannot_tell_about_and_says_so(settings: Path, stub: GitHubStub,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    stack_in(settings, "pr-4")  # GitHub has no pull request 4: kept, and the run fails naming it
    stack_in(settings, "pr-5")
    stack_in(settings, "staging")  # not a PR environment: never looked at
    stub.pulls[5] = "open"
    assert cli.main(["pr", "sweep"]) == 1
    out = capsys.readouterr().out
    assert "pr-4: kept: cannot tell whether pull request #4 is closed (GitHub GET " in out and "answered HTTP 404" in out
    assert "pr-5: kept: pull request #5 is open" in out and "staging" not in out
    assert [p for m, p in stub.calls if m != "GET"] == []  # nothing destroyed, nothing said


def test_list_shows_the_pr_environments_oldest_first(settings: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack_in(settings, "pr-8")
    stack_in(settings, "pr-7")
    history = settings / ".pulumi" / "history" / PROJECT / "pr-8" / "pr-8-1800000000000000000.history.json"
    history.parent.mkdir(parents=True)
    history.write_text("{}")
    assert cli.main(["pr", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [r.split()[0] for r in rows] == ["pr-8", "pr-7"]  # pr-7 was never updated: the newest
    assert rows[0].endswith("first update 2027-01-15 08:00:00 UTC") and rows[1].endswith("never updated")


def test_a_comment_that_cannot_be_posted_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(number: int, text: str) -> None:
        raise github.GitHubError("GitHub POST /repos/o/r/issues/3/comments answered HTTP 403: Resource not accessible by integration")

    pr.tell(refuse, 3, "text")
    assert "warning: the pull request's comment was not updated: GitHub POST" in capsys.readouterr().out
