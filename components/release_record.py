"""ReleaseRecord: the release a stack is about to deploy, kept in the state before any compose project is deployed.

The stack's ``release`` output says what a *succeeded* update deployed. A failed update keeps the
previous outputs, so this resource is what tells, in the failed update's checkpoint, which release
it attempted (``core.ledger`` reads both). The ComposeProjects depend on it: it is written first.

Provider: no API call, nothing outside the state. Its diff compares the release's identity only
(``core.ledger.RECORD_KEYS`` and the stack), so re-deploying a release records nothing new and
``by``/``commit``/``recorded_at`` keep saying who first recorded it; a release that changes is an
update (``pulumi preview`` shows the release id and the compose hashes that change).
"""

from __future__ import annotations

import getpass
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.provider_support import now, props_of, same
from core.ledger import RECORD_KEYS

INPUTS = ("stack", *RECORD_KEYS, "by", "commit")
IDENTITY = ("stack", *RECORD_KEYS)


@dataclass
class ReleaseRecordArgs:
    """The identity of a release (``core.ledger.summary``) and who deploys it."""

    stack: str
    release_id: Input[str]
    manifest: Input[Mapping[str, str]]
    """service -> repository@sha256:..."""
    compose_sha256: Input[Mapping[str, str]]
    """compose project -> sha256 of its compose text."""
    promoted_from: str = ""
    pinned: str = ""
    """The release id a pinned stack deploys again ("" when not pinned)."""
    by: str = ""
    commit: str = ""


class ReleaseRecordProvider(ResourceProvider):
    """Keeps its inputs, plus when they were first recorded; see the module docstring."""

    @staticmethod
    def _outputs(props: Mapping[str, Any]) -> dict[str, Any]:
        p = props_of(props)
        return {**{k: p.get(k) for k in INPUTS}, "recorded_at": now()}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"release-record-{props_of(props).get('stack')}", self._outputs(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old, new = props_of(olds), props_of(news)
        changed = [k for k in IDENTITY if not same(old.get(k), new.get(k))]
        return DiffResult(changes=bool(changed), replaces=[], stables=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._outputs(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props_of(props))

    def delete(self, _id: str, _outputs: dict[str, Any]) -> None:
        return None


class ReleaseRecord(Resource, module="releases", name="ReleaseRecord"):
    """The release this update deploys, recorded in the state before the deploy."""

    release_id: Output[str]
    by: Output[str]
    commit: Output[str]
    recorded_at: Output[str]

    def __init__(self, name: str, args: ReleaseRecordArgs, opts: ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "stack": args.stack,
            "release_id": args.release_id,
            "manifest": args.manifest,
            "compose_sha256": args.compose_sha256,
            "promoted_from": args.promoted_from,
            "pinned": args.pinned,
            "by": args.by,
            "commit": args.commit,
            "recorded_at": None,
        }
        super().__init__(ReleaseRecordProvider(), name, props, opts)


def deployer(environ: Mapping[str, str] | None = None) -> str:
    """Who runs this deploy: the GitHub actor in Actions, else the local user."""
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_ACTOR"):
        return f"{environ['GITHUB_ACTOR']} (GitHub Actions)"
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def source_commit(project_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """The commit being deployed: GITHUB_SHA in Actions, else the checkout's HEAD ("" outside git)."""
    environ = os.environ if environ is None else environ
    if environ.get("GITHUB_SHA"):
        return environ["GITHUB_SHA"]
    try:
        run = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_dir, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return run.stdout.strip() if run.returncode == 0 else ""
