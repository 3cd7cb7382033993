"""The STAND-IN pulumi-resource-docker plugin, driven over gRPC exactly as the Pulumi engine drives it.

The plugin is started through its launcher (testkit/bin/pulumi-resource-docker) and must print its
port first; the calls are the engine's (Configure, Check, Diff, Create, Update, Read, Delete) with
the engine's value encoding (secret wrappers, the unknown sentinel). Everything runs against the
real Docker Engine and the real registry on 127.0.0.1:5000, with images built FROM scratch from
Debian's static busybox and unique names per run, removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from testkit import ports

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "testkit" / "bin" / "pulumi-resource-docker"
REGISTRY = "127.0.0.1:5000"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
TAG = "docker:index/tag:Tag"
REGISTRY_IMAGE = "docker:index/registryImage:RegistryImage"
MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
DIFF_NONE = provider_pb2.DiffResponse.DIFF_NONE
DIFF_SOME = provider_pb2.DiffResponse.DIFF_SOME


def _docker_ok() -> bool:
    try:
        return subprocess.run(["docker", "version"], capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _registry_ok() -> bool:
    try:
        return requests.get(f"http://{REGISTRY}/v2/", timeout=5).status_code == 200
    except requests.RequestException:
        return False


pytestmark = pytest.mark.skipif(
    not (_docker_ok() and _registry_ok() and Path("/bin/busybox").exists()),
    reason=f"needs a Docker Engine, the registry on {REGISTRY} and /bin/busybox (scripts/install-docker.sh)",
)


def secret(value: Any) -> dict[str, Any]:
    """The engine's encoding of a secret value."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(props)
    return struct


def to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::standin::{type_}::{name}"


class Plugin:
    """The stand-in plugin process and a client stub, used like the engine uses a provider plugin."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [str(LAUNCHER), "127.0.0.1:1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._stderr: list[str] = []
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()
        first_line = self.proc.stdout.readline().strip()
        assert first_line.isdigit(), f"plugin did not print its port first: {first_line!r} {self.stderr}"
        self.port = int(first_line)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=20)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def close(self) -> None:
        self.channel.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def configure(self, registry_auth: list[dict[str, Any]] | None = None, secret_auth: bool = False, **extra: Any) -> None:
        args: dict[str, Any] = {"version": "5.2.0", **extra}
        variables: dict[str, str] = {}
        if registry_auth is not None:
            encoded = json.dumps(registry_auth)  # the Python SDK sends registryAuth JSON-encoded
            args["registryAuth"] = secret(encoded) if secret_auth else encoded
            variables["docker:config:registryAuth"] = encoded
        checked = self.stub.CheckConfig(provider_pb2.CheckRequest(urn=urn("pulumi:providers:docker", "docker"), news=to_struct(args)))
        assert not checked.failures
        self.stub.Configure(
            provider_pb2.ConfigureRequest(args=checked.inputs, variables=variables, acceptSecrets=True, acceptResources=True)
        )

    def check(self, type_: str, news: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
        res = self.stub.Check(
            provider_pb2.CheckRequest(
                urn=urn(type_, "r"),
                type=type_,
                name="r",
                olds=to_struct(olds or {}),
                news=to_struct(news),
                randomSeed=b"seed",
            )
        )
        assert not res.failures, res.failures
        return to_dict(res.inputs)

    def create(self, type_: str, props: dict[str, Any], preview: bool = False) -> tuple[str, dict[str, Any]]:
        res = self.stub.Create(
            provider_pb2.CreateRequest(urn=urn(type_, "r"), type=type_, name="r", properties=to_struct(props), preview=preview)
        )
        return res.id, to_dict(res.properties)

    def diff(self, type_: str, rid: str, olds: dict[str, Any], news: dict[str, Any]) -> provider_pb2.DiffResponse:
        return self.stub.Diff(
            provider_pb2.DiffRequest(
                id=rid,
                urn=urn(type_, "r"),
                type=type_,
                name="r",
                olds=to_struct(olds),
                news=to_struct(news),
                old_inputs=to_struct(news),
            )
        )

    def update(self, type_: str, rid: str, olds: dict[str, Any], news: dict[str, Any], preview: bool = False) -> dict[str, Any]:
        res = self.stub.Update(
            provider_pb2.UpdateRequest(
                id=rid,
                urn=urn(type_, "r"),
                type=type_,
                name="r",
                olds=to_struct(olds),
                news=to_struct(news),
                preview=preview,
            )
        )
        return to_dict(res.properties)

    def read(self, type_: str, rid: str, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        res = self.stub.Read(provider_pb2.ReadRequest(id=rid, urn=urn(type_, "r"), type=type_, name="r", properties=to_struct(props)))
        return res.id, to_dict(res.properties)

    def delete(self, type_: str, rid: str, props: dict[str, Any]) -> None:
        self.stub.Delete(provider_pb2.DeleteRequest(id=rid, urn=urn(type_, "r"), type=type_, name="r", properties=to_struct(props)))


class Images:
    """Builds tiny FROM-scratch busybox images and removes every name it created or tagged."""

    def __init__(self, workdir: Path) -> None:
        self.run = uuid.uuid4().hex[:10]
        self.workdir = workdir
        self.names: list[str] = []
        self.ids: list[str] = []
        self.pushed: list[str] = []
        (workdir / "busybox").write_bytes(Path("/bin/busybox").read_bytes())

    def build(self, name: str) -> str:
        nonce = uuid.uuid4().hex
        (self.workdir / "Dockerfile").write_text(
            f'FROM scratch\nCOPY busybox /bin/busybox\nLABEL org.bizosaas.standin-test="{nonce}"\nCMD ["/bin/busybox", "true"]\n'
        )
        res = subprocess.run(
            ["docker", "build", "-q", "-t", name, str(self.workdir)],
            capture_output=True,
            text=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
            check=False,
        )
        assert res.returncode == 0, res.stderr
        self.names.append(name)
        self.ids.append(image_id(name))
        return self.ids[-1]

    def track(self, name: str) -> str:
        self.names.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.pushed:
            delete_from_registry(name)
        for ref in [*dict.fromkeys(self.names), *dict.fromkeys(self.ids)]:
            subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, check=False)


def image_id(name: str) -> str:
    res = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True, check=False)
    return res.stdout.strip() if res.returncode == 0 else ""


def _split(name: str) -> tuple[str, str, str]:
    host, path = name.split("/", 1)
    repo, _, tag = path.rpartition(":")
    return host, repo, tag


def registry_digest(name: str, auth: tuple[str, str] | None = None) -> str | None:
    """Docker-Content-Digest the registry serves for <repo>:<tag>, or None when absent."""
    host, repo, tag = _split(name)
    resp = requests.head(f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}, auth=auth, timeout=10)
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.status_code
    return resp.headers["Docker-Content-Digest"]


def delete_from_registry(name: str) -> None:
    digest = registry_digest(name)
    if digest:
        host, repo, _ = _split(name)
        requests.delete(f"http://{host}/v2/{repo}/manifests/{digest}", timeout=10)


def free_port() -> int:
    return ports.free_port()


@dataclass
class AuthRegistry:
    """A second, throw-away registry (distribution 2.8) that requires basic auth."""

    address: str
    username: str
    password: str


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[AuthRegistry]:
    crypt = pytest.importorskip("crypt", reason="bcrypt for htpasswd comes from the crypt module")
    binary = shutil.which("docker-registry")
    if not binary:
        pytest.skip("docker-registry (Debian's distribution 2.8) is not installed")
    port, password = free_port(), f"pw-{uuid.uuid4().hex}"
    (tmp_path / "htpasswd").write_text(f"deploy:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    (tmp_path / "registry.yml").write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage:\n  filesystem: {{rootdirectory: {tmp_path / 'data'}}}\n  delete: {{enabled: true}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
        f"auth:\n  htpasswd: {{realm: standin-test, path: {tmp_path / 'htpasswd'}}}\n"
    )
    proc = subprocess.Popen([binary, "serve", str(tmp_path / "registry.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 401:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield AuthRegistry(f"127.0.0.1:{port}", "deploy", password)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def plugin() -> Iterator[Plugin]:
    p = Plugin()
    yield p
    p.close()


@pytest.fixture
def images(tmp_path: Path) -> Iterator[Images]:
    imgs = Images(tmp_path)
    yield imgs
    imgs.cleanup()


NO_AUTH = [{"address": f"http://{REGISTRY}", "authDisabled": True}]


def test_plugin_handshake_info_schema_and_banner(plugin: Plugin) -> None:
    assert plugin.stub.GetPluginInfo(empty_pb2.Empty()).version == "5.2.0"
    schema = json.loads(plugin.stub.GetSchema(provider_pb2.GetSchemaRequest()).schema)
    assert set(schema["resources"]) == {TAG, REGISTRY_IMAGE}
    assert "sha256Digest" in schema["resources"][REGISTRY_IMAGE]["properties"]
    deadline = time.time() + 5
    while "STAND-IN for pulumi-docker 5.2.0" not in plugin.stderr and time.time() < deadline:
        time.sleep(0.05)
    assert "STAND-IN for pulumi-docker 5.2.0" in plugin.stderr


def test_configure_pings_the_daemon_unless_disabled(plugin: Plugin) -> None:
    with pytest.raises(grpc.RpcError) as err:
        plugin.configure(host="unix:///nonexistent/docker.sock")
    assert "Error pinging Docker server" in err.value.details() or "error pinging Docker server" in err.value.details()
    plugin.configure(host="unix:///nonexistent/docker.sock", disableDockerDaemonCheck="true")


def test_unimplemented_resource_type_is_reported(plugin: Plugin) -> None:
    plugin.configure(NO_AUTH)
    with pytest.raises(grpc.RpcError) as err:
        plugin.check("docker:index/container:Container", {"image": "x"})
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "not implemented" in err.value.details()


def test_tag_create_diff_rebuild_and_delete(plugin: Plugin, images: Images) -> None:
    plugin.configure(NO_AUTH)
    source = f"standin-test-{images.run}/app:src"
    target = images.track(f"{REGISTRY}/standin-test-{images.run}/app:v1")
    source_id = images.build(source)
    news = plugin.check(TAG, {"sourceImage": source, "targetImage": target, "tagTriggers": ["a", "b"]})

    rid, outs = plugin.create(TAG, news, preview=True)
    assert (rid, outs["sourceImageId"]) == ("", UNKNOWN)
    assert image_id(target) == "", "preview must not touch Docker"

    rid, outs = plugin.create(TAG, news)
    assert rid == f"{source}.{target}"
    assert outs["sourceImageId"] == source_id == image_id(target)
    assert outs["tagTriggers"] == ["a", "b"]

    assert plugin.diff(TAG, rid, outs, news).changes == DIFF_NONE
    assert plugin.diff(TAG, rid, outs, {**news, "tagTriggers": ["b", "a"]}).changes == DIFF_NONE, "tagTriggers is a set"
    moved = plugin.diff(TAG, rid, outs, {**news, "targetImage": target + "x"})
    assert moved.changes == DIFF_SOME and list(moved.replaces) == ["targetImage"]
    retriggered = plugin.diff(TAG, rid, outs, {**news, "tagTriggers": ["c"]})
    assert list(retriggered.replaces) == ["tagTriggers"]
    unknown = plugin.diff(TAG, rid, outs, {**news, "targetImage": UNKNOWN})
    assert list(unknown.replaces) == ["targetImage"]

    rebuilt_id = images.build(source)
    assert rebuilt_id != source_id
    rebuilt = plugin.diff(TAG, rid, outs, news)
    assert rebuilt.changes == DIFF_SOME and list(rebuilt.replaces) == ["sourceImageId"]
    assert rebuilt.detailedDiff["sourceImageId"].kind == provider_pb2.PropertyDiff.UPDATE_REPLACE

    assert plugin.read(TAG, rid, outs) == (rid, outs)
    plugin.delete(TAG, rid, outs)
    assert image_id(target) == source_id, "like the real provider, deleting a Tag leaves the images alone"


def test_tag_upstream_diff_mode_ignores_a_rebuilt_source(images: Images) -> None:
    plugin = Plugin(env={"PULUMI_DOCKER_STANDIN_UPSTREAM_DIFF": "1"})
    try:
        plugin.configure(NO_AUTH)
        source = f"standin-test-{images.run}/app:src"
        target = images.track(f"standin-test-{images.run}/app:copy")
        images.build(source)
        news = plugin.check(TAG, {"sourceImage": source, "targetImage": target})
        rid, outs = plugin.create(TAG, news)
        images.build(source)
        assert plugin.diff(TAG, rid, outs, news).changes == DIFF_NONE
    finally:
        plugin.close()


def test_tag_missing_source_image_is_a_clear_error(plugin: Plugin, images: Images) -> None:
    plugin.configure(NO_AUTH)
    missing = f"standin-test-{images.run}/missing:nope"
    target = images.track(f"standin-test-{images.run}/missing:target")
    news = plugin.check(TAG, {"sourceImage": missing, "targetImage": target})
    with pytest.raises(grpc.RpcError) as err:
        plugin.create(TAG, news)
    assert missing in err.value.details() and "does not exist" in err.value.details()
    assert image_id(target) == ""


def test_registry_image_push_diff_update_read_delete(plugin: Plugin, images: Images) -> None:
    plugin.configure(NO_AUTH, secret_auth=True)
    name = f"{REGISTRY}/standin-test-{images.run}/app:v1"
    images.pushed.append(name)
    first_id = images.build(name)
    news = plugin.check(REGISTRY_IMAGE, {"name": name, "triggers": {"local_image_id": first_id}})
    assert news["keepRemotely"] is False and news["insecureSkipVerify"] is False

    rid, outs = plugin.create(REGISTRY_IMAGE, news, preview=True)
    assert (rid, outs["sha256Digest"]) == ("", UNKNOWN)
    assert registry_digest(name) is None, "preview must not push"

    rid, outs = plugin.create(REGISTRY_IMAGE, news)
    pushed = registry_digest(name)
    assert pushed and pushed.startswith("sha256:")
    assert rid == outs["sha256Digest"] == pushed
    assert outs["localImageId"] == first_id

    assert plugin.diff(REGISTRY_IMAGE, rid, outs, news).changes == DIFF_NONE
    state_without_local_id = {k: v for k, v in outs.items() if k != "localImageId"}  # e.g. state from the real provider
    assert plugin.diff(REGISTRY_IMAGE, rid, state_without_local_id, news).changes == DIFF_NONE, "falls back to RepoDigests"
    assert plugin.read(REGISTRY_IMAGE, rid, outs) == (rid, outs)
    retriggered = plugin.diff(REGISTRY_IMAGE, rid, outs, {**news, "triggers": {"local_image_id": "other"}})
    assert list(retriggered.replaces) == ["triggers"]
    kept = plugin.diff(REGISTRY_IMAGE, rid, outs, {**news, "keepRemotely": True})
    assert kept.changes == DIFF_SOME and list(kept.replaces) == [] and list(kept.diffs) == ["keepRemotely"]

    second_id = images.build(name)
    changed = plugin.diff(REGISTRY_IMAGE, rid, outs, news)
    assert changed.changes == DIFF_SOME and list(changed.replaces) == [] and list(changed.diffs) == ["sha256Digest"]
    assert plugin.diff(REGISTRY_IMAGE, rid, state_without_local_id, news).changes == DIFF_SOME

    planned = plugin.update(REGISTRY_IMAGE, rid, outs, news, preview=True)
    assert planned["sha256Digest"] == UNKNOWN
    assert registry_digest(name) == pushed, "preview must not push"

    updated = plugin.update(REGISTRY_IMAGE, rid, outs, news)
    repushed = registry_digest(name)
    assert updated["sha256Digest"] == repushed != pushed
    assert updated["localImageId"] == second_id
    assert plugin.diff(REGISTRY_IMAGE, rid, updated, news).changes == DIFF_NONE

    plugin.delete(REGISTRY_IMAGE, rid, updated)
    assert registry_digest(name) is None, "keepRemotely=false deletes the manifest"
    gone_id, gone = plugin.read(REGISTRY_IMAGE, rid, updated)
    assert (gone_id, gone) == ("", {})


def test_registry_image_resource_auth_config_keeps_secrets_and_keep_remotely(plugin: Plugin, images: Images) -> None:
    plugin.configure([])
    password = f"pw-{uuid.uuid4().hex}"
    name = f"{REGISTRY}/standin-test-{images.run}/kept:v1"
    images.pushed.append(name)
    images.build(name)
    auth = {"address": f"http://{REGISTRY}", "username": "deploy", "password": secret(password)}
    news = plugin.check(REGISTRY_IMAGE, {"name": name, "keepRemotely": True, "authConfig": auth})
    rid, outs = plugin.create(REGISTRY_IMAGE, news)
    assert outs["authConfig"]["password"] == secret(password), "a secret input stays secret in the outputs"
    assert rid == registry_digest(name)
    plugin.delete(REGISTRY_IMAGE, rid, outs)
    assert registry_digest(name) == rid, "keepRemotely=true leaves the image in the registry"
    assert password not in plugin.stderr


def test_push_failure_names_image_and_registry_but_never_the_password(plugin: Plugin, images: Images) -> None:
    registry = f"127.0.0.1:{free_port()}"
    password = f"pw-{uuid.uuid4().hex}"
    plugin.configure([{"address": f"http://{registry}", "username": "deploy", "password": password}], secret_auth=True)
    name = f"{registry}/standin-test-{images.run}/app:v1"
    images.build(name)
    news = plugin.check(REGISTRY_IMAGE, {"name": name})
    with pytest.raises(grpc.RpcError) as err:
        plugin.create(REGISTRY_IMAGE, news)
    message = err.value.details()
    assert name in message and registry in message
    assert password not in message and password not in plugin.stderr


def test_push_with_registry_credentials(plugin: Plugin, images: Images, auth_registry: AuthRegistry) -> None:
    reg = auth_registry
    plugin.configure([{"address": f"http://{reg.address}", "username": reg.username, "password": reg.password}], secret_auth=True)
    name = f"{reg.address}/standin-test-{images.run}/app:v1"
    images.build(name)
    news = plugin.check(REGISTRY_IMAGE, {"name": name})
    rid, outs = plugin.create(REGISTRY_IMAGE, news)
    assert rid == outs["sha256Digest"] == registry_digest(name, auth=(reg.username, reg.password))
    assert plugin.read(REGISTRY_IMAGE, rid, outs) == (rid, outs)
    plugin.delete(REGISTRY_IMAGE, rid, outs)
    assert registry_digest(name, auth=(reg.username, reg.password)) is None
    assert reg.password not in plugin.stderr
    assert (
        not (Path.home() / ".docker" / "config.json").exists() or reg.address not in (Path.home() / ".docker" / "config.json").read_text()
    ), "the login must not land in the user's docker config"


def test_rejected_credentials_fail_without_leaking_the_password(plugin: Plugin, images: Images, auth_registry: AuthRegistry) -> None:
    reg = auth_registry
    wrong = f"wrong-{uuid.uuid4().hex}"
    plugin.configure([{"address": f"http://{reg.address}", "username": reg.username, "password": wrong}], secret_auth=True)
    name = f"{reg.address}/standin-test-{images.run}/app:v1"
    images.build(name)
    news = plugin.check(REGISTRY_IMAGE, {"name": name})
    with pytest.raises(grpc.RpcError) as err:
        plugin.create(REGISTRY_IMAGE, news)
    message = err.value.details()
    assert name in message and reg.address in message and "401" in message
    assert wrong not in message and wrong not in plugin.stderr

    plugin.configure([{"address": f"http://{reg.address}", "authDisabled": True}])
    with pytest.raises(grpc.RpcError) as err:
        plugin.create(REGISTRY_IMAGE, news)
    assert name in err.value.details() and reg.address in err.value.details()


def test_registry_without_registry_auth_fails_like_the_real_provider(plugin: Plugin, images: Images) -> None:
    plugin.configure([])
    name = f"{REGISTRY}/standin-test-{images.run}/app:v1"
    images.build(name)
    news = plugin.check(REGISTRY_IMAGE, {"name": name})
    with pytest.raises(grpc.RpcError) as err:
        plugin.create(REGISTRY_IMAGE, news)
    assert "Unable to get authConfig for registry 127.0.0.1:5000" in err.value.details()
    assert registry_digest(name) is None


def test_address_without_scheme_reads_the_digest_over_https_like_the_real_provider(plugin: Plugin, images: Images) -> None:
    plugin.configure([{"address": REGISTRY, "authDisabled": True}])
    name = f"{REGISTRY}/standin-test-{images.run}/app:v1"
    images.pushed.append(name)
    images.build(name)
    news = plugin.check(REGISTRY_IMAGE, {"name": name})
    with pytest.raises(grpc.RpcError) as err:
        plugin.create(REGISTRY_IMAGE, news)
    assert f"https://{REGISTRY}" in err.value.details() and "http://host:port" in err.value.details()


def test_launcher_finds_the_repo_through_a_symlink(tmp_path: Path) -> None:
    link = tmp_path / "pulumi-resource-docker"
    link.symlink_to(LAUNCHER)
    proc = subprocess.Popen([str(link)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip().isdigit()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_copied_launcher_uses_bizosaas_repo(tmp_path: Path) -> None:
    copy = tmp_path / "pulumi-resource-docker"
    shutil.copy(LAUNCHER, copy)
    proc = subprocess.Popen(
        [str(copy)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "BIZOSAAS_REPO": str(ROOT)}
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip().isdigit()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
