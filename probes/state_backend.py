"""Read a self-managed Pulumi state backend (``file://`` or ``s3://``): the update history of a stack.

The diy backends keep, per update, ``.pulumi/history/<project>/<stack>/<stack>-<ns>.history.json``
(kind, result, times, git and CI metadata) and a copy of the checkpoint after it
(``...checkpoint.json``), written once by the engine and never rewritten. This module lists and
reads those objects, the way the engine's own blob driver does, and hands them to
``core.ledger`` (pure). Read-only: it never writes to the backend.

S3 (and S3-compatible servers): the URL the team logs in with, ``s3://bucket[/prefix]?region=...``
plus ``endpoint=...&use_path_style=true`` (or the v1 names ``s3ForcePathStyle``, ``disableSSL``)
for a server other than AWS. Credentials as the engine reads them from the environment:
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, else a static profile of
the shared credentials file (``profile=`` in the URL, ``AWS_PROFILE``, ``default``). Requests are
SigV4-signed with the standard library; no AWS SDK is needed.
"""

from __future__ import annotations

import configparser
import gzip
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

import requests

from core import ledger

BOOKKEEPING = ".pulumi"
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_TRUE = ("1", "true", "yes")


class BackendError(RuntimeError):
    """The backend cannot be read (unsupported URL, no credentials, an HTTP error)."""


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
        return (self.root / key).read_bytes()


@dataclass(frozen=True)
class S3Backend:
    """``s3://bucket[/prefix]?...``: ListObjectsV2 and GetObject, SigV4-signed."""

    url: str
    bucket: str
    prefix: str
    endpoint: str
    """scheme://host[:port] of the service."""
    path_style: bool
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    session_token: str = field(default="", repr=False)
    timeout: float = 30.0

    def keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        query = {"list-type": "2", "prefix": self.prefix + prefix}
        while True:
            root = ET.fromstring(self._request("GET", "", query).content)
            keys += [(el.text or "")[len(self.prefix) :] for el in root.iter(f"{_NS}Key")]
            token = root.findtext(f"{_NS}NextContinuationToken")
            if root.findtext(f"{_NS}IsTruncated") != "true" or not token:
                return sorted(keys)
            query["continuation-token"] = token

    def read(self, key: str) -> bytes:
        return self._request("GET", self.prefix + key).content

    def _request(self, method: str, key: str, query: Mapping[str, str] | None = None) -> requests.Response:
        scheme, _, host = self.endpoint.partition("://")
        path = f"/{self.bucket}/{key}" if self.path_style else f"/{key}"
        if self.path_style and not key:
            path = f"/{self.bucket}"
        if not self.path_style:
            host = f"{self.bucket}.{host}"
        headers = sign(method, host, path, dict(query or {}), self.region, self.access_key, self.secret_key, self.session_token)
        canonical_query = _canonical_query(dict(query or {}))
        url = f"{scheme}://{host}{quote(path, safe='/-_.~')}" + (f"?{canonical_query}" if canonical_query else "")
        try:
            resp = requests.request(method, url, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise BackendError(f"{_redacted(self.url)}: {method} {path}: {exc}") from None
        if resp.status_code >= 400:
            code = ET.fromstring(resp.content).findtext("Code") if resp.content.startswith(b"<") else ""
            raise BackendError(f"{_redacted(self.url)}: {method} {path} answered HTTP {resp.status_code} {code or ''}".rstrip())
        return resp


def sign(
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    region: str,
    access_key: str,
    secret_key: str,
    session_token: str = "",
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers of an AWS Signature Version 4 request without a body (service s3)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    payload = hashlib.sha256(b"").hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": stamp}
    if session_token:
        headers["x-amz-security-token"] = session_token
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, quote(path, safe="/-_.~"), _canonical_query(query), *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, payload]
    )
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{secret_key}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    return headers


def _canonical_query(query: Mapping[str, str]) -> str:
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))


def _redacted(url: str) -> str:
    return url.split("?", 1)[0]


def open_backend(url: str, environ: Mapping[str, str] | None = None) -> Backend:
    """The backend a ``pulumi login`` URL names (file:// or s3://)."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(url)
    if parts.scheme == "file":
        raw = url[len("file://") :].split("?", 1)[0]
        path = Path(os.path.expanduser(raw)) if raw.startswith("~") else Path(raw)
        return FileBackend(url, path.resolve())
    if parts.scheme == "s3":
        return _s3(url, environ)
    raise BackendError(
        f"the release history is read from a self-managed backend (file:// or s3://), not {_redacted(url)!r}; "
        "on Pulumi Cloud the same records are the stack's update history (`pulumi stack history`, `pulumi stack export --version N`)"
    )


def _s3(url: str, environ: Mapping[str, str]) -> S3Backend:
    parts = urlsplit(url)
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    region = q.get("region") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    insecure = (q.get("disableSSL") or q.get("disable_https") or "").lower() in _TRUE
    endpoint = q.get("endpoint") or ""
    if endpoint and "://" not in endpoint:
        endpoint = f"{'http' if insecure else 'https'}://{endpoint}"
    path_style = (q.get("use_path_style") or q.get("s3ForcePathStyle") or "").lower() in _TRUE
    key, secret, token = _credentials(q.get("profile") or environ.get("AWS_PROFILE") or "default", environ)
    prefix = parts.path.strip("/")
    return S3Backend(
        url=url,
        bucket=parts.netloc,
        prefix=f"{prefix}/" if prefix else "",
        endpoint=(endpoint or f"https://s3.{region}.amazonaws.com").rstrip("/"),
        path_style=path_style,
        region=region,
        access_key=key,
        secret_key=secret,
        session_token=token,
    )


def _credentials(profile: str, environ: Mapping[str, str]) -> tuple[str, str, str]:
    if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"], environ.get("AWS_SESSION_TOKEN", "")
    path = Path(environ.get("AWS_SHARED_CREDENTIALS_FILE") or Path(environ.get("HOME", "~")).expanduser() / ".aws" / "credentials")
    shared = configparser.ConfigParser()
    if path.is_file():
        shared.read(path)
    if shared.has_option(profile, "aws_access_key_id") and shared.has_option(profile, "aws_secret_access_key"):
        section = shared[profile]
        return section["aws_access_key_id"], section["aws_secret_access_key"], section.get("aws_session_token", "")
    raise BackendError(
        "reading the release history from S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for a role), "
        f"or a static profile {profile!r} in {path}; with SSO or an instance role: "
        'eval "$(aws configure export-credentials --format env)"'
    )


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
        info = _json(backend, key, warn)
        checkpoint = _json(backend, checkpoint_key, warn) if checkpoint_key in present and info and info.get("kind") == "update" else None
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
    except LookupError:
        return ledger.find(stack, read_deployments(backend, project, stack, warn), release_id)
    for note in notes:
        warn(note)
    return found


def _json(backend: Backend, key: str, warn: ledger.Warn) -> dict[str, Any] | None:
    """One JSON object (gzip-compressed ones too); None, with no exception, when it cannot be read or parsed."""
    if key.endswith(".zst"):
        warn(f"{key}: zstd-compressed (PULUMI_DIY_BACKEND_ZSTD) records cannot be read here; use gzip or none")
        return None
    try:
        data = backend.read(key)
    except (OSError, BackendError) as exc:
        warn(f"{key}: cannot be read ({exc})")
        return None
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

