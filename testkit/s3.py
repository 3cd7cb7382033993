"""A real S3-compatible object store on loopback, for tests of a team state backend (`pulumi login s3://...`).

`scripts/start-s3.sh` starts the server (built by `scripts/install-s3.sh`) on 127.0.0.1 with data
under `.state/s3/data` and writes its endpoint and locally generated credentials to
`.state/s3/server.env` (mode 0600, never committed). `Server` reads that file and talks S3 to it
with plain SigV4-signed requests, independent of the botocore client the reader under test uses.
`FaultProxy` sits in front of it and fails chosen requests (an S3 503 for one object).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlparse

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
S3_DIR = PROJECT_DIR / ".state" / "s3"
SERVER_ENV = S3_DIR / "server.env"
START_SCRIPT = PROJECT_DIR / "scripts" / "start-s3.sh"
BINARY = PROJECT_DIR / ".tools" / "s3" / "bin" / "versitygw"
REGION = "us-east-1"
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True)
class Server:
    endpoint: str  # http://127.0.0.1:PORT
    access_key: str
    secret_key: str
    region: str = REGION

    def backend_url(self, bucket: str) -> str:
        """What `pulumi login` takes for a bucket on this server: path-style addressing, plain http."""
        return f"s3://{bucket}?endpoint={self.endpoint}&use_path_style=true&region={self.region}"

    def env(self) -> dict[str, str]:
        """The credentials the engine's AWS SDK reads."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": self.region}

    def request(self, method: str, path: str, query: dict[str, str] | None = None, body: bytes = b"") -> requests.Response:
        """A SigV4-signed request to `path` (`/bucket` or `/bucket/key`)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        scope = f"{stamp[:8]}/{self.region}/s3/aws4_request"
        canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted((query or {}).items()))
        payload = hashlib.sha256(body).hexdigest()
        headers = {"host": urlparse(self.endpoint).netloc, "x-amz-content-sha256": payload, "x-amz-date": stamp}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [method, quote(path, safe="/-_.~"), canonical_query, *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, payload]
        )
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        key = f"AWS4{self.secret_key}".encode()
        for part in scope.split("/"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        url = f"{self.endpoint}{quote(path, safe='/-_.~')}" + (f"?{canonical_query}" if canonical_query else "")
        return requests.request(method, url, data=body, headers=headers, timeout=30)

    def create_bucket(self, bucket: str) -> None:
        resp = self.request("PUT", f"/{bucket}")
        if resp.status_code != 200 and "BucketAlreadyOwnedByYou" not in resp.text:
            raise RuntimeError(f"create bucket {bucket}: HTTP {resp.status_code} {resp.text[:300]}")

    def delete_bucket(self, bucket: str) -> None:
        """Delete every object, then the bucket."""
        for key in self.list_keys(bucket):
            self.request("DELETE", f"/{bucket}/{key}").raise_for_status()
        self.request("DELETE", f"/{bucket}").raise_for_status()

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under prefix (ListObjectsV2, all pages)."""
        keys: list[str] = []
        query = {"list-type": "2", "prefix": prefix}
        while True:
            resp = self.request("GET", f"/{bucket}", query)
            resp.raise_for_status()
            root = ET.fromstring(resp.content)
            keys += [el.text or "" for el in root.iter(f"{_NS}Key")]
            token = root.findtext(f"{_NS}NextContinuationToken")
            if root.findtext(f"{_NS}IsTruncated") != "true" or not token:
                return keys
            query["continuation-token"] = token

    def get(self, bucket: str, key: str) -> bytes:
        resp = self.request("GET", f"/{bucket}/{key}")
        resp.raise_for_status()
        return resp.content

    def put(self, bucket: str, key: str, body: bytes) -> None:
        """Write an object (tests: a damaged record, a lock left by a killed process)."""
        self.request("PUT", f"/{bucket}/{key}", body=body).raise_for_status()


def read_env(path: Path = SERVER_ENV) -> dict[str, str]:
    """KEY=VALUE lines of the file start-s3.sh writes."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))


def installed() -> bool:
    return BINARY.is_file() or bool(os.environ.get("BIZOSAAS_S3_ENV"))


def start() -> Server:
    """Start the server if it is not running (idempotent) and return how to reach it.

    BIZOSAAS_S3_ENV=<file in server.env's form> points the tests at another, already running server instead.
    """
    if os.environ.get("BIZOSAAS_S3_ENV"):
        env = read_env(Path(os.environ["BIZOSAAS_S3_ENV"]))
    else:
        subprocess.run(["bash", str(START_SCRIPT)], check=True, capture_output=True, text=True)
        env = read_env()
    return Server(env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], env.get("S3_REGION", REGION))


class FaultProxy:
    """A small HTTP proxy in front of the server that answers chosen requests with an error, to show how a reader
    behaves when the store fails part-way (an S3 503 for one object, then the real answer).

    ``fail(substring, times, status)``: the next ``times`` requests whose path contains ``substring`` get ``status``
    (with S3's XML error body) instead of being forwarded; ``times=-1``: every one. Everything else is forwarded
    unchanged (the Host header too, so SigV4 signatures stay valid). ``hits(substring)`` counts the requests seen.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: dict[str, list[int]] = {}
        self.seen: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                return None

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = proxy._fault(self.path)
                if status:
                    code = "SlowDown" if status == 503 else "InternalError"
                    data = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "connection")}
                resp = requests.request(self.command, proxy.upstream + self.path, headers=headers, data=body, timeout=30)
                self.send_response(resp.status_code)
                for key, value in resp.headers.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding", "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, substring: str, times: int = 1, status: int = 503) -> None:
        with self._lock:
            self.faults[substring] = [times, status]

    def hits(self, substring: str) -> int:
        with self._lock:
            return sum(substring in path for path in self.seen)

    def _fault(self, path: str) -> int:
        with self._lock:
            self.seen.append(path)
            for substring, left in self.faults.items():
                if substring in path and left[0] != 0:
                    left[0] -= 1
                    return left[1]
        return 0
