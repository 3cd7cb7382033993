"""Which release a stack deploys: the digests it pushed, a verified release of another stack (promotion), or a
release of its own history (a pin); and the release record the ``release`` output and the ReleaseRecord carry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from components import stack_config
from components.stack_config import DeploySettings
from core import ledger, release
from core.catalog import Catalog
from core.compose import health_url, service_summary
from probes import state_backend
from probes.registry import manifest_exists


def released_digests(stack: str, catalog: Catalog, promote_from: str | None, cfg: pulumi.Config) -> pulumi.Output[dict[str, str]]:
    """Digests of the verified release of another stack (and, with expectRelease, only that release)."""
    source = pulumi.StackReference(promote_from or "")
    check = cfg.get_bool("checkRegistry")
    expect = cfg.get("expectRelease") or ""
    user = cfg.get("registryPullUser")
    token = cfg.get_secret("registryPullToken") or ""  # to ask a private registry (GHCR) for the manifests

    def promotable(mvt: list[Any]) -> dict[str, str]:
        auth = (user, mvt[2]) if user and mvt[2] else None
        exists = (lambda repo, digest: manifest_exists(repo, digest, auth)) if check else None
        key = f"{stack_config.PROJECT}:promoteFrom ({promote_from})"
        try:
            return release.promotable_digests(stack, key, catalog, mvt[0], mvt[1], exists, expect=expect)
        except release.ReleaseError as exc:  # one clear message, no traceback; nothing has been created or changed
            raise pulumi.RunError(f"refusing to promote, nothing was changed:\n{exc}") from None

    digests = pulumi.Output.all(source.get_output("release_manifest"), source.get_output("verified"), token).apply(promotable)
    return pulumi.Output.unsecret(digests)  # digests are not secret; the token only authenticated the check


def find_release(stack: str, release_id: str) -> ledger.Deployment:
    """A release of the stack, from the state backend the engine uses (a damaged entry: a warning, and skipped)."""
    warnings: list[str] = []
    backend = state_backend.open_backend(state_backend.backend_url())
    try:
        return state_backend.find_deployment(backend, pulumi.get_project(), stack, release_id, warnings.append)
    finally:
        for warning in warnings:
            pulumi.log.warn(f"release history of {stack}: {warning}")


def read_pinned(
    stack: str, pin: str, catalog: Catalog, deploy: DeploySettings, find: Callable[[str, str], ledger.Deployment], problems: list[str]
) -> release.PinnedRelease | None:
    """The pinned release from the stack's history, checked (problems are added, not raised)."""
    key = f"{stack_config.PROJECT}:pinnedRelease"
    try:
        row = find(stack, pin)
    except (LookupError, state_backend.BackendError) as exc:
        text = str(exc).removeprefix(f"stack {stack}: ")
        problems.append(f"stack {stack}: {key}: {text}")
        return None
    template = deploy.health_url

    def summary(name: str, ref: str) -> dict[str, Any]:
        svc = catalog.services.get(name)
        return service_summary(catalog, svc, ref, health_url(template, svc) if template else "") if svc else {"image": ref}

    def urls(group: str) -> dict[str, str]:
        return {s.name: url for s in catalog.group(group) if (url := health_url(template, s))} if template else {}

    try:
        pinned = release.pinned_release(stack, key, catalog, row.release or {}, summary, urls)
    except release.ReleaseError as exc:
        problems.extend(str(exc).splitlines())
        return None
    rec = pinned.record
    pulumi.log.warn(
        f"stack {stack} is pinned to release {pinned.id} (update {row.update}, recorded {rec.get('recorded_at') or '?'} "
        f"by {rec.get('by') or '?'}, commit {str(rec.get('commit') or '?')[:12]}): its compose projects are deployed as recorded "
        f"(sha256 checked) and no image is pushed. Unpin: `pulumi config rm pinnedRelease` (or `python -m deployctl unpin --stack {stack}`)"
    )
    return pinned


def release_content(stack: str, promote_from: str, pinned: release.PinnedRelease | None, args: list[Any]) -> dict[str, Any]:
    """The release this update deploys (``core.ledger.record``)."""
    compose, manifest = args
    if pinned is not None:
        source = str(pinned.record.get("promoted_from") or "")
        return ledger.record(stack=stack, manifest=pinned.manifest, compose=compose, promoted_from=source, pinned=pinned.id)
    return ledger.record(stack=stack, manifest=manifest, compose=compose, promoted_from=promote_from)


def release_output(args: list[Any]) -> dict[str, Any]:
    content, by, commit, recorded_at, verified, verification = args
    who = {"by": by or "", "commit": commit or "", "recorded_at": recorded_at or ""}
    return {**content, **who, "verified": verified is True, "verification": verification}
