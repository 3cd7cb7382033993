"""Read a self-managed Pulumi state backend (``file://`` or ``s3://``): the update history of a stack.

The diy backends keep, per update, ``.pulumi/history/<project>/<stack>/<stack>-<ns>.history.json``
(kind, result, times, git and CI metadata) and a copy of the checkpoint after it
(``...checkpoint.json``), written once by the engine and never rewritten. This module lists and
reads those objects, the way the engine's own blob driver does, and hands them to
``core.ledger`` (pure). Read-only: it never writes to the backend.

S3 (and S3-compatible servers) through botocore, the AWS SDK's core (an optional dependency:
``requirements-s3.txt``, the ``s3`` extra): the URL the team logs in with, ``s3://bucket[/prefix]?region=...``
plus ``endpoint=...&use_path_style=true`` (or the v1 names ``s3ForcePathStyle``, ``disableSSL``) for a
server other than AWS, ``profile=``, ``dualstack=``, ``fips=``, ``accelerate=``, ``anonymous=``, as the
engine's driver (gocloud.dev s3blob) reads them. Credentials come from the whole AWS chain, as the engine
finds them: the environment, web identity (CI's OIDC), SSO, ``credential_process``, the shared files,
container and instance roles. Bucket names with dots work (path-style addressing where a certificate
could not match). Transient errors (5xx, throttling, timeouts, connection resets) are retried, bounded
(``AWS_MAX_ATTEMPTS``, default 5); an object that still cannot be read is an error, never a skipped record.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from core import ledger

BOOKKEEPING = ".pulumi"
_TRUE = ("1", "true", "yes")
MAX_ATTEMPTS = 5
"""Attempts per S3 request (botocore's standard retry mode) unless AWS_MAX_ATTEMPTS or the profile says otherwise."""
BODY_ATTEMPTS = 3
"""Attempts to read an object whose body broke off mid-transfer (botocore retries the request, not the stream)."""
INSTALL = "venv/bin/pip install -r requirements-s3.txt"
UNSUPPORTED = {"role": "assume the role in a profile instead (role_arn and source_profile in ~/.aws/config, then profile=NAME)"}


class BackendError(RuntimeError):
    """The backend cannot be read (unsupported URL, no credentials, an object that cannot be read after retries)."""


class Backend(Protocol):
    """The two calls the reader needs."""

    @property
    def url(self) -> str:
        """The URL it was opened with."""

    def keys(self, prefix: str) -> list[str]:
        """Every object key under prefix (relative to the backend root)."""

    def read(self, key: str) -> bytes:
        """One object's bytes."""


@dataclass(frozen=True)
class FileBackend:
    """``file://<dir>``: the objects are files under dir (the engine's ``.attrs`` sidecars are not objects)."""

    url: str
    root: Path

    def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.endswith(".attrs"))

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as exc:
            raise BackendError(f"{key}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class S3Backend:
    """``s3://bucket[/prefix]?...``: ListObjectsV2 and GetObject with a botocore client (retries, the credential chain)."""

    url: str
    bucket: str
    prefix: str
    client: Any = field(repr=False, compare=False)
    """A botocore S3 client (thread-safe: the history is read in parallel)."""

    def keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        with self._errors(f"list {self.prefix + prefix}"):
            for page in pages:
                keys += [str(o["Key"])[len(self.prefix) :] for o in page.get("Contents") or []]
        return sorted(keys)

    def read(self, key: str) -> bytes:
        from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError

        for attempt in range(1, BODY_ATTEMPTS + 1):
            with self._errors(f"get {self.prefix + key}"):
                body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
                try:
                    return bytes(body.read())
                except (IncompleteReadError, ReadTimeoutError, ResponseStreamingError):
                    if attempt == BODY_ATTEMPTS:
                        raise
                finally:
                    body.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _s3_errors(self.url, what)


@contextlib.contextmanager
def _s3_errors(url: str, what: str) -> Iterator[None]:
    """botocore's errors as one BackendError naming the backend (without its query), the operation and the S3 error code."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    where = f"{_redacted(url)}: {what}"
    try:
        yield
    except NoCredentialsError:
        raise BackendError(f"{where}: {NO_CREDENTIALS}") from None
    except ClientError as exc:
        error = exc.response.get("Error") or {}
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        raise BackendError(f"{where} answered HTTP {status} {error.get('Code') or ''}".rstrip() + _retried(exc)) from None
    except BotoCoreError as exc:
        raise BackendError(f"{where}: {exc}") from None


NO_CREDENTIALS = (
    "no AWS credentials were found for reading the release history (the same chain the engine uses: AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, AWS_PROFILE or profile= in the URL (SSO, credential_process, role_arn), web identity "
    "(AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN), a container or instance role)"
)


def _retried(exc: BaseException) -> str:
    attempts = ((getattr(exc, "response", None) or {}).get("ResponseMetadata") or {}).get("RetryAttempts")
    return f" (after {attempts + 1} attempts)" if isinstance(attempts, int) and attempts else ""


def _redacted(url: str) -> str:
    return url.split("?", 1)[0]


def open_backend(url: str) -> Backend:
    """The backend a ``pulumi login`` URL names (file:// or s3://)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        raw = url[len("file://") :].split("?", 1)[0]
        path = Path(os.path.expanduser(raw)) if raw.startswith("~") else Path(raw)
        return FileBackend(url, path.resolve())
    if parts.scheme == "s3":
        return _s3(url)
    raise BackendError(
        f"the release history is read from a self-managed backend (file:// or s3://), not {_redacted(url)!r}; "
        "on Pulumi Cloud the same records are the stack's update history (`pulumi stack history`, `pulumi stack export --version N`)"
    )


@functools.cache
def _loader() -> Any:
    import botocore.loaders

    return botocore.loaders.create_loader()


def _s3(url: str) -> S3Backend:
    try:
        import botocore.session
        from botocore import UNSIGNED
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise BackendError(
            f"reading the release history from an s3:// state backend ({_redacted(url)}) needs botocore, the AWS SDK's core, "
            f"which is not installed: {INSTALL} (or pip install 'bizosaas-deploy[s3]')"
        ) from None
    parts = urlsplit(url)
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    for name, instead in UNSUPPORTED.items():
        if name in q:
            raise BackendError(f"{_redacted(url)}: the URL parameter {name}= is not read by the release history reader: {instead}")
    flag = {k: q.get(k, "").lower() in _TRUE for k in ("dualstack", "fips", "accelerate", "anonymous")}
    insecure = (q.get("disableSSL") or q.get("disable_https") or "").lower() in _TRUE
    endpoint = q.get("endpoint") or ""
    if endpoint and "://" not in endpoint:
        endpoint = f"{'http' if insecure else 'https'}://{endpoint}"
    path_style = (q.get("use_path_style") or q.get("s3ForcePathStyle") or q.get("hostname_immutable") or "").lower() in _TRUE
    try:
        session = botocore.session.Session(profile=q.get("profile") or None)
        session.register_component("data_loader", _loader())  # the S3 model is parsed once per process, not per client
        region = q.get("region") or os.environ.get("AWS_REGION") or session.get_config_variable("region") or "us-east-1"
        config = Config(
            region_name=region,
            retries={
                "mode": session.get_config_variable("retry_mode") or "standard",
                "total_max_attempts": int(session.get_config_variable("max_attempts") or MAX_ATTEMPTS),
            },
            s3={"addressing_style": "path" if path_style else "auto", "use_accelerate_endpoint": flag["accelerate"]},
            use_dualstack_endpoint=flag["dualstack"] or None,
            use_fips_endpoint=flag["fips"] or None,
            signature_version=UNSIGNED if flag["anonymous"] else None,
            connect_timeout=10,
            read_timeout=30,
            max_pool_connections=16,
            user_agent_extra="bizosaas-deploy",
        )
        client = session.create_client("s3", endpoint_url=endpoint or None, config=config)
    except BotoCoreError as exc:  # an unknown profile, a broken config file
        raise BackendError(f"{_redacted(url)}: {exc}") from None
    prefix = parts.path.strip("/")
    return S3Backend(url=url, bucket=parts.netloc, prefix=f"{prefix}/" if prefix else "", client=client)


def backend_url(environ: Mapping[str, str] | None = None) -> str:
    """The backend the engine uses: PULUMI_BACKEND_URL, else the one `pulumi login` selected (`pulumi whoami`)."""
    environ = os.environ if environ is None else environ
    if environ.get("PULUMI_BACKEND_URL"):
        return environ["PULUMI_BACKEND_URL"]
    cli = shutil.which("pulumi", path=environ.get("PATH"))
    if cli is None:
        raise BackendError("cannot tell which state backend is in use: PULUMI_BACKEND_URL is not set and `pulumi` is not on PATH")
    run = subprocess.run([cli, "whoami", "--verbose", "--json"], capture_output=True, text=True, env=dict(environ), timeout=60, check=False)
    try:
        return str(json.loads(run.stdout)["url"])
    except (ValueError, KeyError, TypeError):
        raise BackendError(f"cannot tell which state backend is in use: `pulumi whoami` said {run.stderr.strip()[-300:]!r}") from None


def history_prefix(backend: Backend, project: str, stack: str) -> str:
    """The stack's history folder: per project (the default layout), else the legacy layout without projects."""
    scoped = f"{BOOKKEEPING}/history/{project}/{stack}/"
    if backend.keys(scoped):
        return scoped
    legacy = f"{BOOKKEEPING}/history/{stack}/"
    return legacy if backend.keys(legacy) else scoped


def read_entries(backend: Backend, project: str, stack: str, warn: ledger.Warn, newest: int | None = None) -> list[ledger.Entry]:
    """The stack's history entries (oldest first), each with its update info and checkpoint, read in parallel.

    ``newest``: only that many of the newest entries (and the one before them, which a failed update is compared with).
    """
    prefix = history_prefix(backend, project, stack)
    keys = backend.keys(prefix)
    histories = list(enumerate(sorted((k for k in keys if ".history.json" in k), key=ledger.update_sort_key), 1))
    if newest is not None:
        histories = histories[-(newest + 1) :]
    present = set(keys)

    def load(numbered: tuple[int, str]) -> ledger.Entry:
        number, key = numbered
        checkpoint_key = key.replace(".history.json", ".checkpoint.json")
        try:
            info = _json(backend, key, warn)
            wanted = checkpoint_key in present and info and info.get("kind") == "update"
            checkpoint = _json(backend, checkpoint_key, warn) if wanted else None
        except BackendError as exc:  # still failing after the retries: not damaged, unknown (ledger.find refuses around it)
            return ledger.Entry(key, number, None, None, unreadable=str(exc))
        return ledger.Entry(key, number, info, checkpoint)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(load, histories))


def read_deployments(backend: Backend, project: str, stack: str, warn: ledger.Warn, newest: int | None = None) -> list[ledger.Deployment]:
    """Every deployment of a stack (oldest first; damaged entries skipped with a warning); ``newest``: only those of the
    newest that many updates (the one before them is read, not listed)."""
    entries = read_entries(backend, project, stack, warn, newest)
    rows = ledger.deployments(entries, warn)
    if newest is not None and len(entries) > newest:
        rows = [r for r in rows if r.update > entries[0].number]
    return rows


def find_deployment(backend: Backend, project: str, stack: str, release_id: str, warn: ledger.Warn, window: int = 25) -> ledger.Deployment:
    """``ledger.find`` over the newest ``window`` updates first (what a rollback almost always wants), then the whole history."""
    notes: list[str] = []
    entries = read_entries(backend, project, stack, notes.append, window)
    rows = ledger.deployments(entries, notes.append)
    if not entries or entries[0].number == 1:  # the window held the whole history
        for note in notes:
            warn(note)
        return ledger.find(stack, rows, release_id)
    try:
        found = ledger.find(stack, rows, release_id)
    except ledger.HistoryUnreadable:
        for note in notes:
            warn(note)
        raise
    except LookupError:
        return ledger.find(stack, read_deployments(backend, project, stack, warn), release_id)
    for note in notes:
        warn(note)
    return found


def _json(backend: Backend, key: str, warn: ledger.Warn) -> dict[str, Any] | None:
    """One JSON object (gzip-compressed ones too); None when it is damaged (not gzip, not JSON, not an object).

    An object that cannot be read (the backend still failing after its retries) raises BackendError: it is not
    known to be damaged, and what it holds may be the release a rollback must not skip.
    """
    if key.endswith(".zst"):
        warn(f"{key}: zstd-compressed (PULUMI_DIY_BACKEND_ZSTD) records cannot be read here; use gzip or none")
        return None
    data = backend.read(key)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None



def stack_names(backend: Backend, project: str) -> list[str]:
    """The project's stacks in the backend (``.pulumi/stacks/<project>/<stack>.json``, or ``.json.gz``; the legacy layout
    without projects too), sorted: what `pulumi stack ls` lists, read with one listing (a key scoped to a prefix can do it)."""
    names: set[str] = set()
    for key in backend.keys(f"{BOOKKEEPING}/stacks/"):
        rest = key[len(f"{BOOKKEEPING}/stacks/") :]
        head, _, leaf = rest.rpartition("/")
        if head not in ("", project):
            continue
        for suffix in (".json", ".json.gz"):
            if leaf.endswith(suffix) and not leaf.startswith("."):
                names.add(leaf[: -len(suffix)])
    return sorted(names)


def first_update_ns(backend: Backend, project: str, stack: str) -> int:
    """When the stack's first update (of any kind) started, in nanoseconds since the epoch, from the oldest history record's
    name (``<stack>-<ns>.history.json``); 0 when it has none."""
    keys = [k for k in backend.keys(history_prefix(backend, project, stack)) if ".history.json" in k]
    return min((ledger.update_sort_key(k)[0] for k in keys), default=0)
