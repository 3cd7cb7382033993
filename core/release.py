"""Releases: the content-addressed identity of what a stack runs, promotion and rollback inputs.

Pure except `manifest_exists`, which asks the registry (Docker Registry HTTP API v2).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import requests

from core.catalog import Catalog

REF = re.compile(r"^(?P<repo>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


class ReleaseError(ValueError):
    """A release that cannot be promoted or rolled back to."""


def release_id(manifest: Mapping[str, str]) -> str:
    """r-<12 hex>: the same set of image references always has the same id."""
    text = json.dumps(dict(sorted(manifest.items())), separators=(",", ":"))
    return "r-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def digests_for(stack: str, catalog: Catalog, manifest: Mapping[str, str], key: str) -> dict[str, str]:
    """service -> sha256 digest from a release manifest (service -> repository@sha256:...)."""
    problems = []
    digests = {}
    for name, svc in catalog.services.items():
        ref = manifest.get(name)
        m = REF.match(ref or "")
        if not m:
            problems.append(f"stack {stack}: {key}/{name}: {ref!r} is not <repository>@sha256:<digest>")
        elif m["repo"] != svc.image_repository:
            problems.append(f"stack {stack}: {key}/{name}: {m['repo']} is not this stack's repository {svc.image_repository}")
        else:
            digests[name] = m["digest"]
    if problems:
        raise ReleaseError("\n".join(problems))
    return digests


def promotable_digests(
    stack: str,
    source: str,
    catalog: Catalog,
    manifest: Mapping[str, str] | None,
    verified: Any,
    check_registry: bool | None,
    auth: tuple[str, str] | None = None,
) -> dict[str, str]:
    """The digests another stack verified, refusing unverified releases and missing manifests."""
    key = f"bizosaas:promoteFrom ({source})"
    if not manifest:
        raise ReleaseError(f"stack {stack}: {key}: the source stack exports no release_manifest (has it been deployed?)")
    if verified is not True:
        raise ReleaseError(f"stack {stack}: {key}: release {release_id(manifest)} was not verified healthy; refusing to promote it")
    digests = digests_for(stack, catalog, manifest, key)
    if check_registry:
        for name, digest in digests.items():
            repo = catalog.services[name].image_repository
            if not manifest_exists(repo, digest, auth):
                raise ReleaseError(f"stack {stack}: {key}/{name}: {repo}@{digest} is not in the registry")
    return digests


def manifest_exists(repository: str, digest: str, auth: tuple[str, str] | None = None, timeout: float = 10) -> bool:
    """HEAD /v2/<name>/manifests/<digest>; follows the bearer-token challenge GHCR and Docker Hub use."""
    host, name = repository.split("/", 1)
    scheme = "http" if host.startswith(("127.", "localhost")) else "https"
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
