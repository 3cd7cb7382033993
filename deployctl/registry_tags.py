"""Delete a PR environment's tag from each of its image repositories: through the Registry HTTP API v2 (a distribution
registry with deletes enabled, such as the local docker-registry) or, for GHCR, the GitHub Packages API.

A tag cannot be deleted on its own. distribution 2.x refuses ``DELETE /v2/<name>/manifests/<tag>``, and a DELETE by digest
removes the manifest with every tag on it; a GHCR package version is a digest with every tag on it too. An image that two
pull requests did not change has one digest and two PR tags. So, per repository:

* the PR's tag is the only tag on its digest: the manifest (GHCR: the package version) is deleted;
* other tags name the digest too: the PR's tag is moved first to a manifest of its own (a tiny OCI image manifest without
  layers, unique by an annotation), and that manifest is deleted, which removes the tag only; the image and its other tags
  stay (what another PR environment runs).

Deleting by digest is safe only because PR images live in repositories of their own (``core.pr_env`` refuses a template
that pushes where a shipped stack does): prod runs staging's digests without a tag of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin

import requests

from core.hosts import registry_scheme
from probes.registry import MANIFEST_TYPES, credentials_may_go_to

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
PLACEHOLDER_CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "config": {}},
                                separators=(",", ":")).encode()
"""The config of the placeholder manifest a shared tag is moved to (the same bytes every time: one tiny blob)."""


class RegistryError(RuntimeError):
    """A registry call that failed: what was asked and what the registry answered (never a credential)."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one tag."""

    repository: str
    tag: str
    action: str
    """deleted (the manifest it alone named) | untagged (moved off a digest other tags name, then deleted) | absent"""
    digest: str = ""
    shared_with: tuple[str, ...] = ()

    def line(self) -> str:
        if self.action == "absent":
            return f"{self.repository}:{self.tag}: no such tag"
        if self.action == "untagged":
            return (f"{self.repository}:{self.tag}: tag removed; its image {self.digest[:19]} stays, "
                    f"tagged {', '.join(self.shared_with)}")
        return f"{self.repository}:{self.tag}: deleted ({self.digest[:19]}, no other tag)"


class RegistryV2:
    """The Registry HTTP API v2 of one host, following the bearer-token challenge GHCR and Docker Hub use."""

    def __init__(self, host: str, auth: tuple[str, str] | None = None, timeout: float = 30.0) -> None:
        self.host = host
        self.base = f"{registry_scheme(host)}://{host}"
        self.auth = auth
        self.timeout = timeout
        self._session = requests.Session()
        self._tokens: dict[str, str] = {}

    def call(self, method: str, path: str, ok: tuple[int, ...], **kwargs: object) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base}{path}"
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
        scope = self._scope(path)
        if scope in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[scope]}"
        resp = self._send(method, url, headers, **kwargs)
        challenge = resp.headers.get("WWW-Authenticate", "")
        if resp.status_code == 401 and challenge.lower().startswith("bearer"):
            self._tokens[scope] = self._token(challenge)
            resp = self._send(method, url, {**headers, "Authorization": f"Bearer {self._tokens[scope]}"}, **kwargs)
        if resp.status_code not in ok:
            raise RegistryError(f"registry {self.host}: {method} {path.split('?', 1)[0]} answered HTTP {resp.status_code}: "
                                f"{resp.text.strip()[:200]}")
        return resp

    def _send(self, method: str, url: str, headers: dict[str, str], **kwargs: object) -> requests.Response:
        try:
            return self._session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)  # type: ignore[arg-type]
        except requests.RequestException as exc:
            raise RegistryError(f"registry {self.host}: {method} {url.split('?', 1)[0]}: {type(exc).__name__}") from None

    @staticmethod
    def _scope(path: str) -> str:
        match = re.match(r"(?:https?://[^/]+)?/v2/(.+?)/(?:tags|manifests|blobs)/", path)
        return match.group(1) if match else ""

    def _token(self, challenge: str) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not credentials_may_go_to(realm, self.host):
            raise RegistryError(f"registry {self.host}: its token challenge names {realm!r}; credentials go only to the registry's host")
        try:
            resp = requests.get(realm, params=params, auth=self.auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise RegistryError(f"registry {self.host}: token request: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise RegistryError(f"registry {self.host}: the token endpoint answered HTTP {resp.status_code}")
        body = resp.json()
        return str(body.get("token") or body.get("access_token") or "")

    def tags(self, name: str) -> list[str]:
        """Every tag of repository ``name`` (the ``Link: rel="next"`` pages followed); [] when it does not exist."""
        found: list[str] = []
        path = f"/v2/{name}/tags/list?n=1000"
        while path:
            resp = self.call("GET", path, ok=(200, 404))
            if resp.status_code == 404:
                return found
            found += list(resp.json().get("tags") or [])
            link = re.search(r'<([^>]+)>;\s*rel="next"', resp.headers.get("Link", ""))
            path = urljoin(self.base, link.group(1)) if link else ""
        return found

    def digest(self, name: str, reference: str) -> str:
        """The manifest digest a tag (or digest) names; "" when there is none."""
        resp = self.call("HEAD", f"/v2/{name}/manifests/{reference}", ok=(200, 404), headers={"Accept": MANIFEST_TYPES})
        return resp.headers.get("Docker-Content-Digest", "") if resp.status_code == 200 else ""

    def delete_manifest(self, name: str, digest: str) -> None:
        self.call("DELETE", f"/v2/{name}/manifests/{digest}", ok=(202, 404))

    def put_placeholder(self, name: str, tag: str) -> str:
        """Point ``tag`` at a manifest of its own (no layers, unique): the digest of that manifest."""
        config = "sha256:" + hashlib.sha256(PLACEHOLDER_CONFIG).hexdigest()
        if self.call("HEAD", f"/v2/{name}/blobs/{config}", ok=(200, 404)).status_code == 404:
            start = self.call("POST", f"/v2/{name}/blobs/uploads/", ok=(202,))
            location = urljoin(self.base, start.headers["Location"])
            sep = "&" if "?" in location else "?"
            self.call("PUT", f"{location}{sep}digest={config}", ok=(201,), data=PLACEHOLDER_CONFIG,
                      headers={"Content-Type": "application/octet-stream"})
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": len(PLACEHOLDER_CONFIG)},
            "layers": [],
            "annotations": {"org.opencontainers.image.description": f"bizosaas-deploy: removes the tag {tag}, deleted right after",
                            "io.bizosaas.placeholder": secrets.token_hex(8)},
        }
        body = json.dumps(manifest, separators=(",", ":")).encode()
        resp = self.call("PUT", f"/v2/{name}/manifests/{tag}", ok=(201,), data=body, headers={"Content-Type": OCI_MANIFEST})
        return resp.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()


Delete = Callable[[str, str], object]
"""Delete one manifest of a repository: (repository name without the host, digest)."""


def delete_tag(registry: RegistryV2, name: str, tag: str, delete: Delete | None = None) -> Outcome:
    """Remove ``tag`` from repository ``name`` of ``registry``, never another tag (see the module's docstring); ``delete``
    deletes a manifest by digest (default: the v2 API's DELETE; GHCR: its Packages API)."""
    remove = delete or registry.delete_manifest
    repository = f"{registry.host}/{name}"
    tags = registry.tags(name)
    if tag not in tags:
        return Outcome(repository, tag, "absent")
    digest = registry.digest(name, tag)
    shared = tuple(sorted(t for t in tags if t != tag and registry.digest(name, t) == digest))
    if not shared:
        remove(name, digest)
        return Outcome(repository, tag, "deleted", digest)
    remove(name, registry.put_placeholder(name, tag))
    return Outcome(repository, tag, "untagged", digest, shared)
