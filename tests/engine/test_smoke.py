"""The real Pulumi engine on a file backend: preview and up of a tiny stack with one dynamic
resource and one image pushed to the local registry (the foundation's smoke test)."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pulumi_docker as docker
import pytest
import requests
from pulumi.dynamic import CreateResult, Resource, ResourceProvider

from components.provider_support import engine_warning
from deployctl import engine
from testkit import images
from tests.engine_helpers import REGISTRY, registry_digest, tiny_project

pytestmark = pytest.mark.engine


class EchoProvider(ResourceProvider):
    """A minimal dynamic provider: proves the engine starts the dynamic-provider host (and shows what a delete warns)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"echo-{props['word']}", {"word": props["word"], "length": len(props["word"])})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        engine_warning(f"echo {props['word']} was deleted; this warning reaches the user")


class Echo(Resource, module="smoke", name="Echo"):
    length: pulumi.Output[int]

    def __init__(self, name: str, word: str) -> None:
        super().__init__(EchoProvider(), name, {"word": word, "length": None})


def test_pulumi_version_is_the_built_engine() -> None:
    out = subprocess.run([str(engine.TOOLS_BIN / "pulumi"), "version"], capture_output=True, text=True, check=True)
    version = out.stdout.strip().lstrip("v").split(".")
    assert version[0] == "3" and int(version[1]) >= 272, out.stdout


def test_preview_and_up_push_an_image_whose_digest_the_registry_confirms(tmp_path: Path) -> None:
    repo = f"{REGISTRY}/smoke/hello-{secrets.token_hex(3)}"
    local = f"smoke-hello:{secrets.token_hex(3)}"
    images.build_image(local, "hello", 8080, "/health", variant=secrets.token_hex(4))

    def program() -> None:
        auth = docker.ProviderRegistryAuthArgs(address=f"http://{REGISTRY}", auth_disabled=True)
        provider = docker.Provider("docker", registry_auth=[auth])
        tag = docker.Tag("hello-tag", source_image=local, target_image=f"{repo}:smoke", opts=pulumi.ResourceOptions(provider=provider))
        image = docker.RegistryImage(
            "hello-image", name=tag.target_image, keep_remotely=True, opts=pulumi.ResourceOptions(provider=provider, depends_on=[tag])
        )
        echo = Echo("echo", "bizosaas")
        pulumi.export("digest", image.sha256_digest)
        pulumi.export("length", echo.length)

    st = engine.stack("smoke", program=program, work_dir=tiny_project(tmp_path))
    try:
        preview = st.preview(color="never")
        assert preview.change_summary.get("create") == 5, preview.change_summary  # stack, provider, tag, image, echo
        up = st.up(color="never")
        digest = up.outputs["digest"].value
        assert up.outputs["length"].value == 8
        assert digest == registry_digest(repo, "smoke")
        again = st.up(color="never")
        assert set(again.summary.resource_changes or {}) == {"same"}, again.summary.resource_changes
    finally:
        destroyed = st.destroy(color="never")
        subprocess.run(["docker", "rmi", "-f", local, f"{repo}:smoke"], capture_output=True, check=False)
    # a provider's warning (public pulumi.log, no private engine call) is in what `pulumi destroy` prints
    assert "warning: echo bizosaas was deleted; this warning reaches the user" in destroyed.stdout, destroyed.stdout[-2000:]


def test_registry_answers() -> None:
    assert requests.get(f"http://{REGISTRY}/v2/", timeout=5).status_code == 200
