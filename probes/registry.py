"""Ask an image registry (Registry HTTP API v2) whether it has a manifest, following GHCR's bearer-token challenge."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests

from core.hosts import is_loopback, registry_scheme
from core.release import ReleaseError

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def manifest_exists(repository: str, digest: str, auth: tuple[str, str] | None = None, timeout: float = 10) -> bool:
    """HEAD /v2/<name>/manifests/<digest>; follows the bearer-token challenge GHCR and Docker Hub use."""
    host, name = repository.split("/", 1)
    scheme = registry_scheme(host)
    url = f"{scheme}://{host}/v2/{name}/manifests/{digest}"
    headers = {"Accept": MANIFEST_TYPES}
    resp = requests.head(url, headers=headers, auth=auth, timeout=timeout)
    if resp.status_code == 401 and "bearer" in resp.headers.get("WWW-Authenticate", "").lower():
        token = _bearer_token(host, resp.headers["WWW-Authenticate"], auth, timeout)
        resp = requests.head(url, headers={**headers, "Authorization": f"Bearer {token}"}, timeout=timeout)
    if resp.status_code == 404:
        return False
    if resp.status_code >= 400:
        raise ReleaseError(f"registry {host}: HEAD manifest of {name} answered {resp.status_code}")
    return True


def credentials_may_go_to(url: str, registry_host: str) -> bool:
    """Whether a registry's token URL may receive its credentials: the registry's own host, over https
    (plain http only on loopback). A challenge naming any other host gets nothing."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host != (urlsplit(f"//{registry_host}").hostname or "").lower():
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))


def _bearer_token(registry_host: str, challenge: str, auth: tuple[str, str] | None, timeout: float) -> str:
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = params.pop("realm", "")
    if not credentials_may_go_to(realm, registry_host):
        raise ReleaseError(
            f"registry {registry_host}: its token challenge names {realm!r}; "
            "credentials are sent only to the registry's own host over https"
        )
    resp = requests.get(realm, params=params, auth=auth, timeout=timeout)
    if resp.status_code != 200:
        raise ReleaseError(f"registry token endpoint {realm} answered {resp.status_code}")
    body = resp.json()
    return str(body.get("token") or body.get("access_token") or "")
