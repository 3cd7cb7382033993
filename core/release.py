"""Releases (pure): the content-addressed identity of what a stack runs, and the digests a promotion or rollback may use."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

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
    *,
    expect: str = "",
) -> dict[str, str]:
    """The digests another stack verified, refusing unverified releases, a release other than ``expect``
    (when given) and, when ``exists`` is given (repository, digest -> bool), digests the registry does
    not have. ``key`` names the config key in messages (``bizosaas-deploy:promoteFrom (org/project/staging)``)."""
    if not manifest:
        raise ReleaseError(f"stack {stack}: {key}: the source stack exports no release_manifest (has it been deployed?)")
    if expect and release_id(manifest) != expect:
        namespace = key.split(":", 1)[0]
        raise ReleaseError(
            f"stack {stack}: {namespace}:expectRelease: the source stack runs release {release_id(manifest)}, not {expect}, "
            "the release this promotion was approved for"
        )
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


_ENV_REF = re.compile(r"(?<!\$)(?:\$\$)*\$\{([A-Z][A-Z0-9_]*)\}")
"""A ${NAME} compose interpolates from the .env (an even run of $ before it is literal text)."""


@dataclass(frozen=True)
class PinnedRelease:
    """An earlier release of this stack, checked, as a pinned `up` deploys it again."""

    id: str
    manifest: dict[str, str]
    """service -> repository@sha256:... as recorded."""
    digests: dict[str, str]
    """service -> sha256:... of this stack's catalog services."""
    compose: dict[str, dict[str, Any]]
    """group -> {text, sha256, env_keys, health_urls, services}: what the release deployed, verbatim."""
    record: dict[str, Any]
    """The whole record (who, when, commit, promoted_from)."""


def env_keys(compose_text: str) -> list[str]:
    """The .env names a compose text interpolates (what its Dokploy env must define)."""
    return sorted(set(_ENV_REF.findall(compose_text)))


def pinned_release(
    stack: str,
    key: str,
    catalog: Catalog,
    recorded: Mapping[str, Any],
    summary: Callable[[str, str], dict[str, Any]],
    health_urls: Callable[[str], dict[str, str]],
) -> PinnedRelease:
    """Check a recorded release against itself and this stack, and fill what records written before the
    ``release`` output lack (env keys from the compose text; health URLs and the per-service summary from
    ``health_urls(group)`` and ``summary(service, image)``). Every problem is raised at once.

    Checked: the manifest hashes to the release id; every compose text has its recorded sha256 and
    names exactly the recorded images; the release has this stack's compose projects and an image,
    in this stack's repository, for every service the stack runs now.
    """
    rid = str(recorded.get("id") or "")
    manifest = {str(k): str(v) for k, v in (recorded.get("manifest") or {}).items()}
    problems: list[str] = []
    say = f"stack {stack}: {key}:"
    if release_id(manifest) != rid:
        problems.append(f"{say} the record of {rid} is damaged: its images hash to {release_id(manifest)}")
    try:
        digests = digests_for(stack, catalog, manifest, f"{key} ({rid})")
    except ReleaseError as exc:
        problems += str(exc).splitlines()
        problems.append(f"{say} to deploy {rid} again, the stack's enabled services must be the release's (services.NAME.enabled)")
        digests = {}
    groups_now = sorted(g for g in catalog.groups if catalog.group(g))
    recorded_compose = recorded.get("compose") or {}
    if sorted(recorded_compose) != groups_now:
        problems.append(f"{say} release {rid} deployed the projects {sorted(recorded_compose)}, this stack has {groups_now}")
    compose: dict[str, dict[str, Any]] = {}
    for group, entry in sorted(recorded_compose.items()):
        text = entry.get("text") if isinstance(entry, Mapping) else None
        if not isinstance(text, str):
            problems.append(f"{say} release {rid} recorded no compose text for {group}")
            continue
        sha = hashlib.sha256(text.encode()).hexdigest()
        if sha != entry.get("sha256"):
            problems.append(f"{say} the {group} compose text of {rid} does not match its recorded sha256; refusing to deploy it")
            continue
        images = _images(text)
        wrong = sorted(s for s, ref in images.items() if manifest.get(s) != ref)
        if wrong or not images:
            problems.append(f"{say} the {group} compose text of {rid} names other images than its manifest ({', '.join(wrong)})")
            continue
        compose[group] = {
            "text": text,
            "sha256": sha,
            "env_keys": sorted(entry.get("env_keys") or env_keys(text)),
            "health_urls": dict(entry.get("health_urls") or health_urls(group)),
            "services": dict(entry.get("services") or {s: summary(s, ref) for s, ref in images.items()}),
            "compose_type": str(entry.get("compose_type") or "docker-compose"),  # the mode the text was rendered for
        }
    if problems:
        raise ReleaseError("\n".join(problems))
    return PinnedRelease(rid, manifest, digests, compose, dict(recorded))


def _images(compose_text: str) -> dict[str, str]:
    try:
        doc = yaml.safe_load(compose_text)
    except yaml.YAMLError:
        return {}
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        return {}
    return {str(n): str(s.get("image")) for n, s in services.items() if isinstance(s, dict)}
