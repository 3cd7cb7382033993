"""Reading a self-managed state backend: backend URLs as `pulumi login` takes them, credentials, the
file layout the engine writes (sidecars, gzip, the legacy layout), damaged objects, which backend is in use."""

from __future__ import annotations

import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from probes import state_backend
from probes.state_backend import BackendError, FileBackend, S3Backend, open_backend

CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
AWS_VARS = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No AWS setting of this machine leaks in; no instance metadata service is asked (it is not on loopback)."""
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


class Sent:
    """The requests a backend's client sends, answered here (botocore's before-send hook: nothing leaves the machine)."""

    def __init__(self, backend: S3Backend, body: bytes = b"", status: int = 200) -> None:
        from botocore.awsrequest import AWSResponse

        self.requests: list[Any] = []

        class Raw:
            def __init__(self) -> None:
                self.data = body

            def stream(self, **_kw: Any) -> Any:
                yield self.data

            def read(self, amt: int | None = None, **_kw: Any) -> bytes:
                out, self.data = (self.data, b"") if amt is None else (self.data[:amt], self.data[amt:])
                return out

            def close(self) -> None:
                return None

        def answer(request: Any, **_kw: Any) -> Any:
            self.requests.append(request)
            return AWSResponse(request.url, status, {"Content-Length": str(len(body))}, Raw())

        backend.client.meta.events.register("before-send.s3", answer)

    @property
    def urls(self) -> list[str]:
        return [r.url.split("?", 1)[0] for r in self.requests]

    def header(self, name: str) -> str:
        value = self.requests[-1].headers.get(name, b"")
        return value.decode() if isinstance(value, bytes) else str(value)


LISTING = b'<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated></ListBucketResult>'


def s3(url: str, monkeypatch: pytest.MonkeyPatch | None = None, **env: str) -> S3Backend:
    mp = monkeypatch or pytest.MonkeyPatch()
    for name, value in {**CREDS, **env}.items():
        mp.setenv(name, value)
    backend = open_backend(url)
    assert isinstance(backend, S3Backend)
    return backend


def get_url(backend: S3Backend, key: str = "k") -> str:
    sent = Sent(backend, b"{}")
    backend.read(key)
    return sent.urls[-1]


def test_aws_s3_urls_use_the_regional_endpoint_virtual_hosted(aws_env: pytest.MonkeyPatch) -> None:
    b = s3("s3://bizosaas-pulumi-state?region=eu-central-1", aws_env)
    assert (b.bucket, b.prefix, b.client.meta.region_name) == ("bizosaas-pulumi-state", "", "eu-central-1")
    assert get_url(b, ".pulumi/meta.yaml") == "https://bizosaas-pulumi-state.s3.eu-central-1.amazonaws.com/.pulumi/meta.yaml"
    assert s3("s3://b", aws_env, AWS_REGION="ap-south-1").client.meta.region_name == "ap-south-1"
    aws_env.delenv("AWS_REGION")
    assert s3("s3://b", aws_env, AWS_DEFAULT_REGION="sa-east-1").client.meta.region_name == "sa-east-1"
    prefixed = s3("s3://acme-state/team/state?region=us-east-2", aws_env)
    assert prefixed.prefix == "team/state/" and get_url(prefixed, "x") == "https://acme-state.s3.us-east-2.amazonaws.com/team/state/x"


def test_a_bucket_name_with_dots_is_addressed_by_path_on_aws_where_no_certificate_would_match(aws_env: pytest.MonkeyPatch) -> None:
    b = s3("s3://acme.pulumi.state?region=eu-west-1", aws_env)
    assert get_url(b, ".pulumi/x") == "https://s3.eu-west-1.amazonaws.com/acme.pulumi.state/.pulumi/x"


def test_an_s3_compatible_endpoint_with_path_style_in_v2_and_v1_spelling(aws_env: pytest.MonkeyPatch) -> None:
    b = s3("s3://state?endpoint=http://127.0.0.1:9310&use_path_style=true&region=us-east-1", aws_env)
    assert get_url(b) == "http://127.0.0.1:9310/state/k"
    legacy = s3("s3://state?endpoint=minio.internal:9000&s3ForcePathStyle=true&disableSSL=true", aws_env)
    assert get_url(legacy) == "http://minio.internal:9000/state/k"
    assert get_url(s3("s3://state?endpoint=r2.example.com&use_path_style=true", aws_env)) == "https://r2.example.com/state/k"


def test_dualstack_fips_and_anonymous_as_the_engine_reads_them(aws_env: pytest.MonkeyPatch) -> None:
    dual = s3("s3://team-state?region=eu-west-1&dualstack=true", aws_env)
    assert get_url(dual) == "https://team-state.s3.dualstack.eu-west-1.amazonaws.com/k"
    assert get_url(s3("s3://team-state?region=us-east-2&fips=true", aws_env)) == "https://team-state.s3-fips.us-east-2.amazonaws.com/k"
    anonymous = s3("s3://b?region=us-east-2&anonymous=true", aws_env)
    sent = Sent(anonymous, b"{}")
    anonymous.read("k")
    assert sent.header("Authorization") == ""
    with pytest.raises(BackendError, match=r"role= is not read .*role_arn and source_profile"):
        s3("s3://b?role=arn:aws:iam::1:role/x", aws_env)


def test_credentials_from_the_environment_then_a_profile(aws_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def key_of(backend: S3Backend) -> str:
        sent = Sent(backend, b"{}")
        backend.read("k")
        return sent.header("Authorization").split("Credential=")[1].split("/")[0]

    with_token = s3("s3://b", aws_env, AWS_SESSION_TOKEN="tok")
    sent = Sent(with_token, b"{}")
    with_token.read("k")
    assert sent.header("X-Amz-Security-Token") == "tok"
    for name in CREDS:
        aws_env.delenv(name)
    creds = tmp_path / "credentials"
    creds.write_text(
        "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n"
        "[ci]\naws_access_key_id = A2\naws_secret_access_key = S2\n"
    )
    aws_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    assert key_of(open_backend("s3://b")) == "A1"  # type: ignore[arg-type]
    assert key_of(open_backend("s3://b?profile=ci")) == "A2"  # type: ignore[arg-type]
    aws_env.setenv("AWS_PROFILE", "ci")
    assert key_of(open_backend("s3://b")) == "A2"  # type: ignore[arg-type]
    with pytest.raises(BackendError, match=r"profile \(nope\) could not be found"):
        open_backend("s3://b?profile=nope")


def test_a_credential_process_profile_is_used(aws_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """SSO and credential helpers (aws-vault, granted, ...) hand the SDK its keys through credential_process."""
    helper = tmp_path / "helper.py"
    answer = {"Version": 1, "AccessKeyId": "AKPROCESS", "SecretAccessKey": "S", "SessionToken": "T"}
    helper.write_text(f"import json; print(json.dumps({answer!r}))\n")
    config = tmp_path / "config"
    config.write_text(f"[profile team]\ncredential_process = {sys.executable} {helper}\nregion = eu-north-1\n")
    aws_env.setenv("AWS_CONFIG_FILE", str(config))
    backend = open_backend("s3://b?profile=team")
    assert isinstance(backend, S3Backend) and backend.client.meta.region_name == "eu-north-1"
    sent = Sent(backend, b"{}")
    backend.read("k")
    assert "Credential=AKPROCESS/" in sent.header("Authorization") and sent.header("X-Amz-Security-Token") == "T"


STS_ANSWER = """<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>AKWEBIDENTITY</AccessKeyId><SecretAccessKey>S</SecretAccessKey>
<SessionToken>SESSION-FROM-STS</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/state-reader/ci</Arn><AssumedRoleId>AROA:ci</AssumedRoleId></AssumedRoleUser>
</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"""


def test_web_identity_as_in_ci_through_a_local_sts_stub(aws_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """CI's OIDC route: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, exchanged at STS (a stub on loopback) for the keys."""
    asked: list[dict[str, list[str]]] = []

    class Sts(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            return None

        def do_POST(self) -> None:
            asked.append(parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()))
            body = STS_ANSWER.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    sts = ThreadingHTTPServer(("127.0.0.1", 0), Sts)
    threading.Thread(target=sts.serve_forever, daemon=True).start()
    token = tmp_path / "oidc-token"
    token.write_text("eyJ.oidc.token")
    aws_env.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    aws_env.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/state-reader")
    aws_env.setenv("AWS_ROLE_SESSION_NAME", "ci")
    aws_env.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{sts.server_address[1]}")
    try:
        backend = open_backend("s3://bizosaas-pulumi-state?region=eu-central-1")
        assert isinstance(backend, S3Backend)
        sent = Sent(backend, LISTING)
        assert backend.keys(".pulumi/") == []
    finally:
        sts.shutdown()
        sts.server_close()
    assert [(a["Action"], a["RoleArn"], a["WebIdentityToken"]) for a in asked] == [
        (["AssumeRoleWithWebIdentity"], ["arn:aws:iam::123456789012:role/state-reader"], ["eyJ.oidc.token"])
    ]
    assert "Credential=AKWEBIDENTITY/" in sent.header("Authorization") and sent.header("X-Amz-Security-Token") == "SESSION-FROM-STS"


def test_without_any_credentials_the_message_names_the_chain(aws_env: pytest.MonkeyPatch) -> None:
    backend = open_backend("s3://b?region=eu-central-1")
    with pytest.raises(BackendError, match=r"^s3://b: list .pulumi/: no AWS credentials were found .*web identity"):
        backend.keys(".pulumi/")


def test_without_botocore_an_s3_backend_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "botocore", None)  # what an environment without the s3 extra imports
    monkeypatch.setitem(sys.modules, "botocore.session", None)
    with pytest.raises(BackendError, match=r"needs botocore.*pip install -r requirements-s3.txt"):
        open_backend("s3://bucket?region=eu-central-1&x=secret")
    assert isinstance(open_backend("file:///tmp"), FileBackend)  # a file backend needs nothing


def test_the_client_and_its_credentials_stay_out_of_the_repr(aws_env: pytest.MonkeyPatch) -> None:
    """A backend printed by a traceback's locals or a debug line must not carry its credentials."""
    b = s3("s3://b?region=us-east-1", aws_env, AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI-example-secret", AWS_SESSION_TOKEN="FwoGZX-tok")
    assert "wJalrXUtnFEMI" not in repr(b) and "FwoGZX" not in repr(b) and "bucket='b'" in repr(b) and "client" not in repr(b)


def test_other_backends_are_named_not_guessed() -> None:
    with pytest.raises(BackendError, match=r"self-managed backend.*not 'https://api.pulumi.com'.*stack export --version"):
        open_backend("https://api.pulumi.com")
    with pytest.raises(BackendError, match="not 'gs://bucket'"):
        open_backend("gs://bucket?x=1")


def test_file_urls_resolve_home_and_drop_the_query(tmp_path: Path) -> None:
    b = open_backend(f"file://{tmp_path}?no_tmp_dir=true")
    assert isinstance(b, FileBackend) and b.root == tmp_path
    home = open_backend("file://~/.pulumi-state")
    assert isinstance(home, FileBackend) and home.root == Path("~/.pulumi-state").expanduser().resolve()


def write(root: Path, key: str, value: Any, *, zipped: bool = False) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    path.write_bytes(gzip.compress(data) if zipped else data)
    (root / f"{key}.attrs").write_text("{}")  # what fileblob writes beside every object


def history(root: Path, prefix: str, ns: int, result: str, outputs: dict[str, Any], *, zipped: bool = False) -> None:
    ext = "json.gz" if zipped else "json"
    started = ns // 10**9
    info = {"kind": "update", "result": result, "startTime": started, "endTime": started + 5, "environment": {"git.head": "ab" * 20}}
    stack = {"type": "pulumi:pulumi:Stack", "outputs": outputs}
    write(root, f"{prefix}s-{ns}.history.{ext}", info, zipped=zipped)
    write(root, f"{prefix}s-{ns}.checkpoint.{ext}", {"checkpoint": {"latest": {"resources": [stack]}}}, zipped=zipped)


def legacy_outputs(n: int) -> dict[str, Any]:
    from core.release import release_id

    manifest = {"brain-api": f"r/brain-api@sha256:{n:064x}"}
    return {"release_id": release_id(manifest), "release_manifest": manifest, "compose": {"backend": "services: {}\n"}, "verified": True}


def test_the_history_of_a_file_backend_oldest_first_gzip_too_sidecars_ignored(tmp_path: Path) -> None:
    prefix = ".pulumi/history/proj/s/"
    history(tmp_path, prefix, 1_800_000_000_000_000_001, "succeeded", legacy_outputs(1))
    history(tmp_path, prefix, 1_800_000_000_000_000_002, "succeeded", legacy_outputs(2), zipped=True)
    write(tmp_path, f"{prefix}s-1800000000000000003.history.json", b'{"kind": "upd')  # cut short
    warnings: list[str] = []
    rows = state_backend.read_deployments(open_backend(tmp_path.as_uri()), "proj", "s", warnings.append)
    assert [(r.update, r.release_id) for r in rows] == [(1, legacy_outputs(1)["release_id"]), (2, legacy_outputs(2)["release_id"])]
    assert len(warnings) == 1 and "skipped update 3" in warnings[0] and "damaged" in warnings[0]
    assert rows[0].commit == "ab" * 6
    newest = state_backend.read_deployments(open_backend(tmp_path.as_uri()), "proj", "s", warnings.append, newest=2)
    assert [r.update for r in newest] == [2]  # the newest 2 are 2 and 3 (damaged); 1 is read as the one before, not listed


def test_the_legacy_layout_without_projects_is_read_and_a_missing_stack_has_no_history(tmp_path: Path) -> None:
    history(tmp_path, ".pulumi/history/s/", 1_800_000_000_000_000_001, "succeeded", legacy_outputs(1))
    backend = open_backend(tmp_path.as_uri())
    assert [r.update for r in state_backend.read_deployments(backend, "proj", "s", print)] == [1]
    assert state_backend.read_deployments(backend, "proj", "other", print) == []


def test_the_backend_in_use_is_pulumi_backend_url_else_what_pulumi_whoami_says(tmp_path: Path) -> None:
    assert state_backend.backend_url({"PULUMI_BACKEND_URL": "s3://x"}) == "s3://x"
    fake = tmp_path / "pulumi"
    fake.write_text('#!/bin/sh\n[ "$1 $2 $3" = "whoami --verbose --json" ] && echo \'{"user": "u", "url": "file:///srv/state"}\'\n')
    fake.chmod(0o755)
    assert state_backend.backend_url({"PATH": str(tmp_path)}) == "file:///srv/state"
    with pytest.raises(BackendError, match="PULUMI_BACKEND_URL is not set and `pulumi` is not on PATH"):
        state_backend.backend_url({"PATH": str(tmp_path / "empty")})


def test_find_looks_at_the_newest_updates_first_then_the_whole_history(tmp_path: Path) -> None:
    prefix = ".pulumi/history/proj/s/"
    for n in range(1, 8):
        history(tmp_path, prefix, 1_800_000_000_000_000_000 + n, "succeeded", legacy_outputs(n))
    backend = open_backend(tmp_path.as_uri())
    reads: list[str] = []
    counting = FileBackend(backend.url, backend.root)  # type: ignore[attr-defined]
    original = FileBackend.read

    def read(self: FileBackend, key: str) -> bytes:
        reads.append(key)
        return original(self, key)

    FileBackend.read = read  # type: ignore[method-assign]
    try:
        assert state_backend.find_deployment(counting, "proj", "s", "previous", print, window=2).update == 6
        assert len(reads) == 6  # the newest two and the one before them: history + checkpoint each
        reads.clear()
        assert state_backend.find_deployment(counting, "proj", "s", legacy_outputs(1)["release_id"], print, window=2).update == 1
        assert len(reads) == 6 + 14  # not in the window: the whole history
    finally:
        FileBackend.read = original  # type: ignore[method-assign]
    with pytest.raises(LookupError, match=r"known: r-"):
        state_backend.find_deployment(counting, "proj", "s", "r-000000000000", print, window=2)
