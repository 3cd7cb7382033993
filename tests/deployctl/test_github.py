"""deployctl/github.py against a local stub of the GitHub REST API (testkit/github_stub.py), and the PR-environment section
of the preview comment (deployctl/preview/environment.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from deployctl import github
from deployctl.preview import environment
from testkit.github_stub import GitHubStub

REPO = "bizoholic-digital/bizosaas-deploy"


@pytest.fixture
def stub() -> Iterator[GitHubStub]:
    s = GitHubStub(REPO, secrets.token_hex(12), pulls={7: "open", 8: "closed"}).start()
    yield s
    s.stop()


def client(stub: GitHubStub) -> github.GitHub:
    return github.GitHub.from_env(stub.env())


def test_a_pull_requests_state(stub: GitHubStub) -> None:
    gh = client(stub)
    assert (gh.state(7), gh.state(8)) == ("open", "closed")
    with pytest.raises(github.GitHubError) as err:
        gh.state(9)
    assert str(err.value) == f"GitHub GET /repos/{REPO}/pulls/9 answered HTTP 404: Not Found"


def test_a_bad_token_is_named_by_what_github_said_never_shown(stub: GitHubStub) -> None:
    wrong = secrets.token_hex(12)
    with pytest.raises(github.GitHubError) as err:
        github.GitHub(REPO, wrong, stub.url).state(7)
    assert "HTTP 401: Bad credentials" in str(err.value) and wrong not in str(err.value)


def test_the_token_goes_over_https_or_to_loopback_only() -> None:
    with pytest.raises(github.GitHubError, match="over https only"):
        github.GitHub(REPO, "t", "http://github.example.com/api/v3")
    with pytest.raises(github.GitHubError, match="GITHUB_REPOSITORY and GITHUB_TOKEN not set"):
        github.GitHub.from_env({})


def outputs(verified: bool = True) -> dict[str, Any]:
    routes = {"brain-api": {"host": "api.pr-7.preview.test", "path": "/", "https": True}}
    return {
        "verified": verified,
        "release_id": "r-0123456789ab",
        "release": {"compose": {"backend": {"routes": routes}, "frontend": {"routes": {
            "bizoholic-frontend": {"host": "pr-7.preview.test", "path": "/", "https": True}}}}},
        "verification": {
            "brain-api": {"health": "healthy", "restarts": 0, "route": {"status": 200, "seconds": 0.42}},
            "auth-service": {"health": "healthy", "restarts": 1},
            "bizoholic-frontend": {"health": "healthy", "restarts": 0, "route": {"status": 200, "seconds": 1.0}},
        },
    }


def test_the_section_lists_each_url_and_what_verification_saw() -> None:
    text = environment.deployed("pr-7", outputs(), 31.6, pushed=["brain-api"])
    assert text.splitlines()[0] == "### PR environment `pr-7`: verified"
    assert "Release `r-0123456789ab`, `up` took 32s; pushed `brain-api`." in text
    assert "Open it: https://pr-7.preview.test" in text
    assert "| `brain-api` | https://api.pr-7.preview.test | healthy, 0 restarts; route answered HTTP 200 through Traefik in 0.4s |" in text
    assert "| `auth-service` | internal (dokploy-network only) | healthy, 1 restarts |" in text
    assert environment.deployed("pr-7", outputs(False), 1).splitlines()[0].endswith("NOT verified")


def test_a_long_failure_stays_within_the_budget() -> None:
    text = environment.failed("pr-7", ["```fence```", "x" * 10_000])
    assert len(text) <= environment.MAX_CHARS and "the update FAILED" in text and text.count("````") == 2
    assert text.endswith("the next push tries again.")


def test_merge_replaces_only_the_section_and_keeps_the_preview() -> None:
    preview = f"{environment.PREVIEW_MARKER}\n**staging**: no changes.\n"
    once = environment.merge(preview, "first")
    assert once.startswith(preview.rstrip()) and environment.section_of(once) == f"{environment.START}\nfirst\n{environment.END}"
    twice = environment.merge(once, "second")
    assert twice.count(environment.START) == 1 and "first" not in twice and "**staging**: no changes." in twice
    assert environment.merge("", "alone").startswith(environment.PREVIEW_MARKER)
    assert environment.section_of(preview) == ""


def test_set_section_edits_the_bots_preview_comment_in_place(stub: GitHubStub) -> None:
    gh = client(stub)
    gh.set_section(7, "deployed")  # no preview comment yet: one is made, starting with the marker
    [body] = stub.comments_on(7)
    assert body.startswith(environment.PREVIEW_MARKER) and "deployed" in body
    stub.comments[0]["body"] = body.replace(environment.PREVIEW_MARKER, f"{environment.PREVIEW_MARKER}\n**staging**: 1 service changed")
    stub.comments.append({"id": 99, "issue": 7, "body": f"{environment.PREVIEW_MARKER} quoted by a human",
                          "user": {"login": "someone", "type": "User"}})
    gh.set_section(7, "destroyed")
    assert stub.comments[1]["body"].endswith("quoted by a human")  # never a person's comment
    body = stub.comments[0]["body"]
    assert "destroyed" in body and "deployed" not in body and "**staging**: 1 service changed" in body
    patches = [p for m, p in stub.calls if m == "PATCH"]
    gh.set_section(7, "destroyed")  # the same text: no write
    assert [p for m, p in stub.calls if m == "PATCH"] == patches and len(stub.comments_on(7)) == 2


def test_comments_are_read_page_by_page(stub: GitHubStub) -> None:
    stub.comments += [{"id": i, "issue": 7, "body": "noise", "user": {"type": "User"}} for i in range(150)]
    client(stub).set_section(7, "after the noise")
    assert sum(environment.PREVIEW_MARKER in b for b in stub.comments_on(7)) == 1
    assert [p for m, p in stub.calls if m == "GET" and "page=2" in p]
