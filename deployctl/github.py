"""The GitHub REST API calls a PR environment makes: a pull request's state, the PR-environment section of the one
preview comment, a comment to a pull request whose environment was destroyed, and (``Packages``) the container package
versions of GHCR.

``PullRequests`` is the small interface the lifecycle uses; ``GitHub`` implements it over the REST API, at
``GITHUB_API_URL`` (what GitHub Actions sets; https://api.github.com otherwise) for ``GITHUB_REPOSITORY`` with
``GITHUB_TOKEN``. The tests point it at a local stub server (testkit/github_stub.py). The token is sent only to that API
URL (https, or plain http on loopback) and never appears in a message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests

from core.hosts import is_loopback
from deployctl.preview import environment

API_VERSION = "2022-11-28"
DEFAULT_API = "https://api.github.com"


class GitHubError(RuntimeError):
    """A GitHub call that failed: what was asked and what GitHub answered (never the token)."""


class PullRequests(Protocol):
    """What the PR-environment lifecycle asks of GitHub."""

    def state(self, number: int) -> str:
        """``open`` or ``closed`` (merged pull requests are closed)."""

    def set_section(self, number: int, section: str) -> None:
        """Put ``section`` in the pull request's preview comment (the one comment starting with the preview marker)."""

    def comment(self, number: int, body: str) -> None:
        """A new comment on the pull request."""


class GitHub:
    """The REST API of one repository."""

    def __init__(self, repository: str, token: str, api_url: str = DEFAULT_API, timeout: float = 30.0) -> None:
        parts = urlsplit(api_url)
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname or "")):
            raise GitHubError(f"GITHUB_API_URL {api_url!r}: the token goes over https only (plain http to loopback: a local stub)")
        if repository.count("/") != 1:
            raise GitHubError(f"GITHUB_REPOSITORY {repository!r} should be owner/name")
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers.update(
            {"Accept": "application/vnd.github+json", "Authorization": f"Bearer {token}", "X-GitHub-Api-Version": API_VERSION}
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GitHub:
        env = os.environ if environ is None else environ
        missing = [k for k in ("GITHUB_REPOSITORY", "GITHUB_TOKEN") if not env.get(k)]
        if missing:
            raise GitHubError(
                f"{' and '.join(missing)} not set: the PR environments ask GitHub about pull requests (GitHub Actions sets both)"
            )
        return cls(env["GITHUB_REPOSITORY"], env["GITHUB_TOKEN"], env.get("GITHUB_API_URL") or DEFAULT_API)

    def request(self, method: str, path: str, ok: tuple[int, ...] = (200, 201, 204), **kwargs: Any) -> requests.Response:
        """One call; a status outside ``ok`` is a GitHubError with GitHub's message."""
        try:
            resp = self._session.request(method, f"{self.api_url}{path}", timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise GitHubError(f"GitHub {method} {path}: {type(exc).__name__}: no answer from {self.api_url}") from None
        if resp.status_code not in ok:
            raise GitHubError(f"GitHub {method} {path} answered HTTP {resp.status_code}: {_message(resp)}")
        return resp

    def pages(self, path: str) -> Iterator[Any]:
        """Every item of a listed resource (``per_page=100``, page by page until a short page)."""
        page = 1
        while True:
            sep = "&" if "?" in path else "?"
            items = self.request("GET", f"{path}{sep}per_page=100&page={page}").json()
            yield from items
            if len(items) < 100:
                return
            page += 1

    def state(self, number: int) -> str:
        return str(self.request("GET", f"/repos/{self.repository}/pulls/{int(number)}").json()["state"])

    def set_section(self, number: int, section: str) -> None:
        mine = next(
            (c for c in self.pages(f"/repos/{self.repository}/issues/{int(number)}/comments")
             if str(c.get("body") or "").startswith(environment.PREVIEW_MARKER) and (c.get("user") or {}).get("type") == "Bot"),
            None,
        )
        if mine is None:
            self.comment(number, environment.merge("", section))
            return
        body = environment.merge(str(mine["body"]), section)
        if body != mine["body"]:
            self.request("PATCH", f"/repos/{self.repository}/issues/comments/{int(mine['id'])}", json={"body": body})

    def comment(self, number: int, body: str) -> None:
        self.request("POST", f"/repos/{self.repository}/issues/{int(number)}/comments", json={"body": body})


class Packages:
    """GHCR's container packages (the GitHub Packages API): a package version is one digest, with every tag on it."""

    def __init__(self, github: GitHub, owner: str) -> None:
        self.github = github
        self.owner = owner
        self._base: str | None = None

    def _root(self) -> str:
        """``/orgs/<owner>`` or ``/users/<owner>``: the owner's kind, asked once."""
        if self._base is None:
            kind = self.github.request("GET", f"/users/{quote(self.owner)}").json().get("type")
            self._base = f"/orgs/{quote(self.owner)}" if kind == "Organization" else f"/users/{quote(self.owner)}"
        return self._base

    def _package(self, package: str) -> str:
        return f"{self._root()}/packages/container/{quote(package, safe='')}"

    def delete_digest(self, package: str, digest: str) -> str:
        """Delete the version of ``package`` that is ``digest``; what was done, in words. GitHub refuses to delete a package's
        last version ("You must delete the package instead"): then the package goes, which holds nothing else."""
        try:
            versions = list(self.github.pages(f"{self._package(package)}/versions"))
        except GitHubError as exc:
            if "HTTP 404" in str(exc):
                return f"package {package} does not exist"
            raise
        found = next((v for v in versions if v.get("name") == digest), None)
        if found is None:
            return f"package {package} has no version {digest[:19]}"
        resp = self.github.request("DELETE", f"{self._package(package)}/versions/{int(found['id'])}", ok=(204, 400))
        if resp.status_code == 204:
            return f"deleted version {found['id']} of package {package}"
        if "last version" not in _message(resp) or len(versions) != 1:
            raise GitHubError(f"GitHub DELETE version {found['id']} of package {package} answered HTTP 400: {_message(resp)}")
        self.github.request("DELETE", self._package(package))
        return f"deleted package {package} (its last version, {digest[:19]}, cannot be deleted alone)"


def _message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:300] or resp.reason
    return str(body.get("message") if isinstance(body, dict) else body)[:300]
