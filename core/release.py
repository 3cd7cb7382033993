"""Releases (pure): the content-addressed identity of what a stack runs, and the digests a promotion or rollback may use."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from core.model import Catalog

REF = re.compile(r"^(?P<repo>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")


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
    key: str,
    catalog: Catalog,
    manifest: Mapping[str, str] | None,
    verified: Any,
    exists: Callable[[str, str], bool] | None = None,
) -> dict[str, str]:
    """The digests another stack verified, refusing unverified releases and, when ``exists`` is
    given (repository, digest -> bool), digests the registry does not have. ``key`` names the
    config key in messages (``bizosaas-deploy:promoteFrom (org/project/staging)``)."""
    if not manifest:
        raise ReleaseError(f"stack {stack}: {key}: the source stack exports no release_manifest (has it been deployed?)")
    if verified is not True:
        raise ReleaseError(f"stack {stack}: {key}: release {release_id(manifest)} was not verified healthy; refusing to promote it")
    digests = digests_for(stack, catalog, manifest, key)
    if exists is not None:
        for name, digest in digests.items():
            repo = catalog.services[name].image_repository
            if not exists(repo, digest):
                raise ReleaseError(f"stack {stack}: {key}/{name}: {repo}@{digest} is not in the registry")
    return digests


def is_verified(checked: bool, healthy: list[Any]) -> bool:
    """A release is verified only when something was checked and every check passed (never ``all([])``)."""
    return bool(checked and healthy and all(h is True for h in healthy))
