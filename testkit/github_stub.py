"""A local STUB of the GitHub REST API: the calls the PR environments make (deployctl/github.py), nothing else.

Not GitHub: a small HTTP server on loopback that answers the way the REST API documents (api-version 2022-11-28):

* ``GET /repos/{owner}/{repo}/pulls/{n}``: ``{"number", "state": "open" | "closed"}``; 404 ``{"message": "Not Found"}``;
* ``GET|POST /repos/{owner}/{repo}/issues/{n}/comments`` (``per_page``/``page``), ``PATCH /repos/{owner}/{repo}/issues/comments/{id}``:
  comments with ``id``, ``body`` and ``user`` (``{"login": "github-actions[bot]", "type": "Bot"}`` for the token's own);
* ``GET /users/{owner}``: ``{"login", "type": "Organization" | "User"}``;
* the Packages API of GHCR for container packages, over a REAL registry (Registry HTTP API v2, the local docker-registry):
  ``GET /{orgs|users}/{owner}/packages/container/{package}/versions`` lists one version per digest of repository
  ``{owner}/{package}`` with its tags (``metadata.container.tags``; untagged manifests are not listed: the v2 API cannot
  enumerate them), ``DELETE .../versions/{id}`` deletes that manifest by digest, ``DELETE .../packages/container/{package}``
  deletes every tagged manifest. Deleting a package's only version is refused with 400 "You cannot delete the last version
  of a package. You must delete the package instead.", the message GitHub's users report (public issue threads; not checked
  against GitHub here).

Every request needs ``Authorization: Bearer <token>``; each is recorded (``calls``).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests

BOT = {"login": "github-actions[bot]", "type": "Bot"}
LAST_VERSION = "You cannot delete the last version of a package. You must delete the package instead."
MANIFESTS = ", ".join(["application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json"])


@dataclass
class GitHubStub:
    """The stub server; ``pulls`` (number -> state) and ``owners`` (login -> type) are set by the test."""

    repository: str
    token: str
    registry: str = "127.0.0.1:5000"
    pulls: dict[int, str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    _ids: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """What GitHub Actions gives a job, pointing at this stub."""
        return {"GITHUB_API_URL": self.url, "GITHUB_REPOSITORY": self.repository, "GITHUB_TOKEN": self.token}

    def comments_on(self, number: int) -> list[str]:
        return [c["body"] for c in self.comments if c["issue"] == number]

    def start(self) -> GitHubStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                with stub._lock:
                    stub.calls.append((self.command, self.path))
                if self.headers.get("Authorization") != f"Bearer {stub.token}":
                    self._send(401, {"message": "Bad credentials"})
                    return
                status, answer = stub.answer(self.command, self.path, body)
                self._send(status, answer)

            def _send(self, status: int, answer: Any) -> None:
                data = b"" if status == 204 else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- the API ---------------------------------------------------------------------------------------------------

    def answer(self, method: str, raw_path: str, body: Any) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        repo = re.escape(self.repository)
        if m := re.fullmatch(rf"/repos/{repo}/pulls/(\d+)", path):
            state = self.pulls.get(int(m.group(1)))
            return (200, {"number": int(m.group(1)), "state": state}) if state else (404, {"message": "Not Found"})
        if m := re.fullmatch(rf"/repos/{repo}/issues/(\d+)/comments", path):
            number = int(m.group(1))
            if method == "POST":
                with self._lock:
                    comment = {"id": 1000 + len(self.comments), "issue": number, "body": str(body["body"]), "user": dict(BOT)}
                    self.comments.append(comment)
                return 201, comment
            return 200, self._page([c for c in self.comments if c["issue"] == number], query)
        if (m := re.fullmatch(rf"/repos/{repo}/issues/comments/(\d+)", path)) and method == "PATCH":
            found = next((c for c in self.comments if c["id"] == int(m.group(1))), None)
            if found is None:
                return 404, {"message": "Not Found"}
            found["body"] = str(body["body"])
            return 200, found
        if m := re.fullmatch(r"/users/([^/]+)", path):
            login = unquote(m.group(1))
            return (200, {"login": login, "type": self.owners[login]}) if login in self.owners else (404, {"message": "Not Found"})
        if m := re.fullmatch(r"/(orgs|users)/([^/]+)/packages/container/([^/]+)(/versions(?:/(\d+))?)?", path):
            kind, owner, package = m.group(1), unquote(m.group(2)), unquote(m.group(3))
            if (kind == "orgs") != (self.owners.get(owner) == "Organization"):
                return 404, {"message": "Not Found"}
            return self._packages(method, f"{owner}/{package}", m.group(4), m.group(5), query)
        return 404, {"message": "Not Found"}

    @staticmethod
    def _page(items: list[Any], query: dict[str, str]) -> list[Any]:
        size, page = int(query.get("per_page") or 30), int(query.get("page") or 1)
        return items[(page - 1) * size : page * size]

    def _packages(self, method: str, name: str, versions: str | None, version: str | None, query: dict[str, str]) -> tuple[int, Any]:
        listed = self._versions(name)
        if listed is None:
            return 404, {"message": "Package not found."}
        if versions and version is None and method == "GET":
            return 200, self._page(listed, query)
        if version is not None and method == "DELETE":
            found = next((v for v in listed if v["id"] == int(version)), None)
            if found is None:
                return 404, {"message": "Not Found"}
            if len(listed) == 1:
                return 400, {"message": LAST_VERSION}
            self._delete(name, found["name"])
            return 204, None
        if versions is None and method == "DELETE":
            for v in listed:
                self._delete(name, v["name"])
            return 204, None
        return 404, {"message": "Not Found"}

    def _versions(self, name: str) -> list[dict[str, Any]] | None:
        """One version per digest the repository's tags name (None: no such repository, or no tag left)."""
        resp = requests.get(f"http://{self.registry}/v2/{name}/tags/list", timeout=10)
        tags = (resp.json().get("tags") or []) if resp.status_code == 200 else []
        if not tags:
            return None
        by_digest: dict[str, list[str]] = {}
        for tag in sorted(tags):
            head = requests.head(f"http://{self.registry}/v2/{name}/manifests/{tag}", headers={"Accept": MANIFESTS}, timeout=10)
            if head.status_code == 200:
                by_digest.setdefault(head.headers["Docker-Content-Digest"], []).append(tag)
        with self._lock:
            for digest in by_digest:
                self._ids.setdefault(digest, 5000 + len(self._ids))
        return [{"id": self._ids[d], "name": d, "metadata": {"package_type": "container", "container": {"tags": t}}}
                for d, t in sorted(by_digest.items())]

    def _delete(self, name: str, digest: str) -> None:
        requests.delete(f"http://{self.registry}/v2/{name}/manifests/{digest}", timeout=10).raise_for_status()
