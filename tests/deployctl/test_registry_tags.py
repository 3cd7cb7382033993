"""A PR's tags deleted from the REAL local registry (docker-registry, distribution 2.8, deletes enabled), through the v2 API
and through the GitHub Packages API (a local stub over that same registry: testkit/github_stub.py). A tag alone on its digest
takes the manifest with it; a tag that shares its digest with another tag is removed alone, the image and the other tag stay.

Untested against GHCR itself: only the Packages API's documented shape and the refusal its users report are modelled."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator

import pytest
import requests

from deployctl import github, registry_tags
from testkit.github_stub import GitHubStub

REGISTRY = "127.0.0.1:5000"


def registry_up() -> bool:
    try:
        return requests.get(f"http://{REGISTRY}/v2/", timeout=3).status_code == 200
    except requests.RequestException:
        return False


pytestmark = pytest.mark.skipif(not registry_up(), reason=f"no registry on {REGISTRY}: scripts/setup.sh starts it")


def push(name: str, tags: list[str], content: str) -> str:
    """A small manifest (its config blob and no layers) tagged with ``tags`` in repository ``name``: its digest."""
    reg = registry_tags.RegistryV2(REGISTRY)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "content": content}).encode()
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    start = reg.call("POST", f"/v2/{name}/blobs/uploads/", ok=(202,))
    reg.call("PUT", f"{start.headers['Location']}&digest={digest}", ok=(201,), data=config)
    body = json.dumps({"schemaVersion": 2, "mediaType": registry_tags.OCI_MANIFEST, "layers": [],
                       "config": {"mediaType": registry_tags.OCI_CONFIG, "digest": digest, "size": len(config)}}).encode()
    for tag in tags:
        reg.call("PUT", f"/v2/{name}/manifests/{tag}", ok=(201,), data=body, headers={"Content-Type": registry_tags.OCI_MANIFEST})
    return "sha256:" + hashlib.sha256(body).hexdigest()


@pytest.fixture
def owner() -> Iterator[str]:
    name = f"prenv-test-{secrets.token_hex(3)}"
    yield name
    reg = registry_tags.RegistryV2(REGISTRY)
    for repo in ("brain-api", "web"):  # whatever a failed test left: every manifest still tagged
        for tag in reg.tags(f"{name}/{repo}"):
            digest = reg.digest(f"{name}/{repo}", tag)
            if digest:
                reg.delete_manifest(f"{name}/{repo}", digest)


def test_a_tag_alone_on_its_digest_deletes_the_manifest(owner: str) -> None:
    reg = registry_tags.RegistryV2(REGISTRY)
    digest = push(f"{owner}/web", ["pr-7"], "seven")
    push(f"{owner}/web", ["pr-8"], "eight")
    done = registry_tags.delete_tag(reg, f"{owner}/web", "pr-7")
    assert (done.action, done.digest) == ("deleted", digest)
    assert reg.tags(f"{owner}/web") == ["pr-8"] and reg.digest(f"{owner}/web", digest) == ""
    assert done.line() == f"{REGISTRY}/{owner}/web:pr-7: deleted ({digest[:19]}, no other tag)"


def test_a_shared_digest_loses_only_the_prs_tag(owner: str) -> None:
    reg = registry_tags.RegistryV2(REGISTRY)
    digest = push(f"{owner}/web", ["pr-7", "pr-9"], "shared")
    done = registry_tags.delete_tag(reg, f"{owner}/web", "pr-7")
    assert (done.action, done.shared_with) == ("untagged", ("pr-9",))
    assert reg.tags(f"{owner}/web") == ["pr-9"]
    assert reg.digest(f"{owner}/web", "pr-9") == digest  # the other PR's image is still there, by tag and by digest
    assert "stays, tagged pr-9" in done.line()


def test_a_missing_tag_is_said_and_nothing_is_touched(owner: str) -> None:
    reg = registry_tags.RegistryV2(REGISTRY)
    push(f"{owner}/web", ["pr-9"], "nine")
    assert registry_tags.delete_tag(reg, f"{owner}/web", "pr-7").action == "absent"
    assert registry_tags.delete_tag(reg, f"{owner}/nothing-here", "pr-7").action == "absent"
    assert reg.tags(f"{owner}/web") == ["pr-9"]


def test_ghcr_deletes_package_versions_through_the_packages_api(owner: str) -> None:
    stub = GitHubStub("bizoholic/deploy", secrets.token_hex(8), registry=REGISTRY, owners={owner: "Organization"}).start()
    try:
        packages = github.Packages(github.GitHub(stub.repository, stub.token, stub.url), owner)
        reg = registry_tags.RegistryV2(REGISTRY)

        def delete(name: str, digest: str) -> str:
            return packages.delete_digest(name.split("/", 1)[1], digest)

        alone = push(f"{owner}/brain-api", ["pr-7"], "seven")
        shared = push(f"{owner}/brain-api", ["pr-8", "pr-9"], "shared")
        assert registry_tags.delete_tag(reg, f"{owner}/brain-api", "pr-7", delete).action == "deleted"
        assert registry_tags.delete_tag(reg, f"{owner}/brain-api", "pr-8", delete).action == "untagged"
        assert reg.tags(f"{owner}/brain-api") == ["pr-9"] and reg.digest(f"{owner}/brain-api", shared) == shared
        assert reg.digest(f"{owner}/brain-api", alone) == ""
        deletes = [p for m, p in stub.calls if m == "DELETE"]
        assert len(deletes) == 2 and all(f"/orgs/{owner}/packages/container/brain-api/versions/" in p for p in deletes)
        # the package's last version cannot be deleted alone (GitHub's rule): the package goes, which holds nothing else
        said = delete(f"{owner}/brain-api", shared)
        assert said.startswith("deleted package brain-api") and reg.tags(f"{owner}/brain-api") == []
        assert packages.delete_digest("brain-api", shared) == "package brain-api does not exist"
    finally:
        stub.stop()
