"""ServiceImage under pulumi mocks: one Tag and one RegistryImage, parented, triggered by the local image id."""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pulumi_docker as docker
import pytest

from components.service_image import ServiceImage, ServiceImageArgs

DIGEST = "sha256:" + "c" * 64
LOCAL_ID = "sha256:" + "1" * 64


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        outs = dict(args.inputs)
        if args.typ == "docker:index/registryImage:RegistryImage":
            outs["sha256Digest"] = DIGEST
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def mocks() -> Mocks:
    m = Mocks()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(m, project="bizosaas-deploy", stack="staging", preview=False)
    return m


@pulumi.runtime.test
def test_tags_then_pushes_the_local_image_and_exposes_the_registry_digest(mocks: Mocks) -> Any:
    provider = docker.Provider("docker")
    args = ServiceImageArgs("bizosaas-brain-gateway:latest", "ghcr.io/o/p/brain-api", "staging", LOCAL_ID)
    image = ServiceImage("brain-api", args, opts=pulumi.ResourceOptions(providers=[provider]))

    def check(values: list[Any]) -> None:
        digest, repo_digest, urn = values
        assert digest == DIGEST
        assert repo_digest == f"ghcr.io/o/p/brain-api@{DIGEST}"
        tag = next(r for r in mocks.resources if r.typ == "docker:index/tag:Tag")
        push = next(r for r in mocks.resources if r.typ == "docker:index/registryImage:RegistryImage")
        assert (tag.name, push.name) == ("brain-api-tag", "brain-api-image")
        assert tag.inputs["sourceImage"] == "bizosaas-brain-gateway:latest"
        assert tag.inputs["targetImage"] == "ghcr.io/o/p/brain-api:staging"
        assert tag.inputs["tagTriggers"] == [LOCAL_ID]
        assert push.inputs["name"] == "ghcr.io/o/p/brain-api:staging"
        assert push.inputs["keepRemotely"] is True
        assert push.inputs["triggers"] == {"local_image_id": LOCAL_ID}
        assert urn.endswith("bizosaas:index:ServiceImage::brain-api")

    return pulumi.Output.all(image.sha256_digest, image.repo_digest, image.urn).apply(check)


@pulumi.runtime.test
def test_children_inherit_the_provider_given_to_the_component(mocks: Mocks) -> Any:
    provider = docker.Provider("docker")
    image = ServiceImage("web", ServiceImageArgs("web:latest", "127.0.0.1:5000/o/web", "local", LOCAL_ID),
                         opts=pulumi.ResourceOptions(providers=[provider]))

    def check(_: Any) -> None:
        # the provider was given to the component only: children get it only by being its children
        children = [r for r in mocks.resources if r.typ.startswith("docker:index/")]
        assert len(children) == 2 and all(r.custom for r in children)
        assert all(r.provider and "pulumi:providers:docker::docker" in r.provider for r in children), [r.provider for r in children]

    return image.sha256_digest.apply(check)
