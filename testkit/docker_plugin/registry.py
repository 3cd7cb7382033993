"""STAND-IN Docker Registry HTTP API v2 client (manifest digest and manifest delete).

Mirrors what the real provider (kreuzwerker terraform-provider-docker, bridged by pulumi-docker)
does after a push: ``HEAD <server>/v2/<repo>/manifests/<tag>`` with the v2/OCI manifest types in
``Accept`` and the ``Docker-Content-Digest`` header as the digest; basic auth, or a bearer token
when the registry answers 401 with ``WWW-Authenticate: Bearer``. ``<server>`` is the registry
address with ``https://`` prepended unless it already names a scheme, exactly like the real one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import requests

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
FALLBACK_TYPE = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_HUB = "registry-1.docker.io"
_TIMEOUT = 30


class RegistryError(Exception):
    """A registry request failed; the message names the URL and never a password."""


@dataclass(frozen=True)
class ImageRef:
    """An image name split like the real provider's ``parseImageOptions``."""

    registry: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, name: str) -> ImageRef:
        """``host:port/ns/app:tag`` -> (host:port, ns/app, tag); no tag means ``latest``."""
        first_slash = name.find("/")
        registry = ""
        if name.count("/") > 1 or (first_slash != -1 and (any(c in name[:first_slash] for c in ".:") or name[:first_slash] == "localhost")):
            registry = name[:first_slash]
        rest = name[len(registry) + 1 :] if registry else name
        rest = rest.split("@", 1)[0]
        repository, _, tag = rest.partition(":")
        if not registry:
            registry = DOCKER_HUB
            if "/" not in repository:
                repository = f"library/{repository}"
        return cls(registry=registry, repository=repository, tag=tag or "latest")

    @property
    def repo_name(self) -> str:
        """``registry/repository`` as it appears in the daemon's RepoDigests."""
        return f"{self.registry}/{self.repository}"


def server_url(address: str) -> str:
    """The real provider's ``normalizeRegistryAddress``: https:// unless a scheme is given."""
    address = address.strip().rstrip("/")
    if address.startswith(("http://", "https://")):
        return address
    return "https://" + address


def hostname(address: str) -> str:
    """The real provider's ``convertToHostname``: strip the scheme and any path."""
    stripped = re.sub(r"^https?://", "", address.strip())
    return stripped.split("/", 1)[0]


@dataclass
class RegistryClient:
    """STAND-IN HTTP client for one registry server."""

    base_url: str
    username: str = ""
    password: str = ""
    insecure_skip_verify: bool = False

    def manifest_digest(self, ref: ImageRef) -> str:
        """Digest of ``ref``'s manifest (Docker-Content-Digest); RegistryError if the tag is absent."""
        try:
            return self._digest(ref, fallback=False)
        except RegistryError as first:
            try:
                return self._digest(ref, fallback=True)
            except RegistryError:
                raise first from None

    def delete_manifest(self, ref: ImageRef, reference: str) -> None:
        """``DELETE /v2/<repo>/manifests/<reference>``; 200/202/404 are success, like the real one."""
        resp = self._send("DELETE", ref, reference, fallback=False)
        if resp.status_code not in (200, 202, 404):
            raise RegistryError(f"registry refused DELETE {self._url(ref, reference)}: HTTP {resp.status_code}")

    def _digest(self, ref: ImageRef, fallback: bool) -> str:
        resp = self._send("HEAD", ref, ref.tag, fallback)
        if resp.status_code != 200:
            raise RegistryError(f"HEAD {self._url(ref, ref.tag)} answered HTTP {resp.status_code}")
        digest = resp.headers.get("Docker-Content-Digest", "")
        if digest:
            return digest
        body = self._send("GET", ref, ref.tag, fallback)
        if body.status_code != 200 or not body.content:
            raise RegistryError(f"GET {self._url(ref, ref.tag)} answered HTTP {body.status_code}")
        return "sha256:" + hashlib.sha256(body.content).hexdigest()

    def _url(self, ref: ImageRef, reference: str) -> str:
        return f"{self.base_url}/v2/{ref.repository}/manifests/{reference}"

    def _send(self, method: str, ref: ImageRef, reference: str, fallback: bool) -> requests.Response:
        headers = {"Accept": FALLBACK_TYPE if fallback else ", ".join(MANIFEST_TYPES)}
        auth = (self.username, self.password) if self.username else None
        resp = self._request(method, self._url(ref, reference), headers, auth)
        challenge = resp.headers.get("WWW-Authenticate", "")
        if resp.status_code == 401 and challenge.lower().startswith("bearer"):
            token = self._token(challenge, f"repository:{ref.repository}:push,pull,delete")
            headers["Authorization"] = f"Bearer {token}"
            resp = self._request(method, self._url(ref, reference), headers, None)
        elif resp.status_code == 401:
            raise RegistryError(f"bad credentials for {self.base_url}: HTTP 401")
        return resp

    def _request(self, method: str, url: str, headers: dict[str, str], auth: tuple[str, str] | None) -> requests.Response:
        try:
            return requests.request(method, url, headers=headers, auth=auth, timeout=_TIMEOUT, verify=not self.insecure_skip_verify)
        except requests.RequestException as exc:
            raise RegistryError(f"error during registry request {method} {url}: {type(exc).__name__}: {exc}") from exc

    def _token(self, challenge: str, fallback_scope: str) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise RegistryError(f"{self.base_url} asked for a bearer token without a realm")
        query = {"service": params.get("service", ""), "scope": params.get("scope") or fallback_scope}
        auth = (self.username, self.password) if self.username else None
        try:
            resp = requests.get(realm, params=query, auth=auth, timeout=_TIMEOUT, verify=not self.insecure_skip_verify)
        except requests.RequestException as exc:
            raise RegistryError(f"error fetching a registry token from {realm}: {type(exc).__name__}") from exc
        if resp.status_code != 200:
            raise RegistryError(f"token request to {realm} answered HTTP {resp.status_code}")
        data = resp.json()
        token = data.get("token") or data.get("access_token")
        if not token:
            raise RegistryError(f"token response from {realm} carried no token")
        return token
