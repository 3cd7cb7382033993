"""Ask an image registry (Registry HTTP API v2) whether it has a manifest, following GHCR's bearer-token challenge."""

from __future__ import annotations

import re

import requests

from core.hosts import registry_scheme
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
        token = _bearer_token(resp.headers["WWW-Authenticate"], auth, timeout)
        resp = requests.head(url, headers={**headers, "Authorization": f"Bearer {token}"}, timeout=timeout)
    if resp.status_code == 404:
        return False
    if resp.status_code >= 400:
        raise ReleaseError(f"registry {host}: HEAD manifest of {name} answered {resp.status_code}")
    return True


def _bearer_token(challenge: str, auth: tuple[str, str] | None, timeout: float) -> str:
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = params.pop("realm", "")
    resp = requests.get(realm, params=params, auth=auth, timeout=timeout)
    if resp.status_code != 200:
        raise ReleaseError(f"registry token endpoint {realm} answered {resp.status_code}")
    body = resp.json()
    return str(body.get("token") or body.get("access_token") or "")
