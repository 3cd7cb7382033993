"""The platform's old deploy loop, the baseline: `docker tag` + `docker push` of the 14 images one after another,
then one redeploy per compose project (mutable tags, `pull_policy: always`, nothing verified)."""

from __future__ import annotations

import subprocess

import yaml

from deployctl import engine
from dokploy_api import DokployClient
from dokploy_api.deploy import deploy_and_wait
from dokploy_api.lookup import find_or_create_environment, find_or_create_project

REGISTRY = "127.0.0.1:5000"
RAW = yaml.safe_load((engine.PROJECT_DIR / "catalog.yaml").read_text())


def run(client: DokployClient, compose_ids: list[str], tag: str) -> int:
    """The platform's script: docker tag + docker push, one image after another, then one redeploy
    per compose project. Its compose files name the mutable tag; Dokploy does not re-pull a tag it
    has, so they also say `pull_policy: always` (else the old way deploys nothing new at all)."""
    for name, spec in RAW["services"].items():
        target = f"{REGISTRY}/bizoholic-digital/bizosaas-platform/{name}:{tag}"
        subprocess.run(["docker", "tag", spec["local_image"], target], check=True, capture_output=True)
        subprocess.run(["docker", "push", target], check=True, capture_output=True)
    for compose_id in compose_ids:
        deploy_and_wait(client, compose_id, redeploy=True, title="old way", timeout=300, poll_interval=0.5)
    return len(RAW["services"])


def old_compose(text: str, tag: str, offset: int) -> str:
    """The same services as the digest-pinned compose, the old way: mutable tag, pull always."""
    doc = yaml.safe_load(text)
    for svc in doc["services"].values():
        svc["image"] = svc["image"].split("@")[0] + f":{tag}"
        svc["pull_policy"] = "always"
        *address, host, container = svc["ports"][0].split(":")  # [address:]published:container
        svc["ports"] = [":".join([*address, str(int(host) + offset), container])]
        svc["container_name"] += "-old"
    return yaml.safe_dump(doc, sort_keys=False)


def setup(client: DokployClient, compose: dict[str, str], tag: str, run: str) -> list[str]:
    """Two compose projects deployed the old way (not measured)."""
    for name, spec in RAW["services"].items():
        target = f"{REGISTRY}/bizoholic-digital/bizosaas-platform/{name}:{tag}"
        subprocess.run(["docker", "tag", spec["local_image"], target], check=True, capture_output=True)
        subprocess.run(["docker", "push", target], check=True, capture_output=True)
    project, _ = find_or_create_project(client, f"bench-old-{run}")
    env, _ = find_or_create_environment(client, project, "production")
    ids = []
    for group, text in compose.items():
        row = client.compose.create(name=group, environment_id=env["environmentId"], compose_type="docker-compose")
        client.compose.update(row["composeId"], sourceType="raw", composeFile=old_compose(text, tag, 500))
        deploy_and_wait(client, row["composeId"], timeout=300, poll_interval=0.5)
        ids.append(row["composeId"])
    return ids
