"""tests.engine_helpers.remove_compose_apps: a compose app left on the Dokploy stand-in after its containers were removed
by name keeps its `<appName>_default` network (Docker has about 30 bridge networks for the machine; leaked ones failed
a later run's deploys); remove_compose_apps takes the network and any container with it."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import yaml

from dokploy_api import DokployClient
from dokploy_api.deploy import deploy_and_wait
from testkit import images
from testkit.dokploy import FakeDokploy
from tests.engine_helpers import ROOT, free_ports, remove_compose_apps, sh

pytestmark = pytest.mark.engine
SPEC = yaml.safe_load((ROOT / "catalog.yaml").read_text())["services"]["brain-api"]


def networks_of(app: str) -> list[str]:
    return sh("docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={app}").split()


def test_a_compose_whose_containers_were_removed_by_name_leaves_no_network(tmp_path: Path) -> None:
    run, key = secrets.token_hex(3), secrets.token_hex(16)
    tag = f"cleanup-{run}/brain-api:v1"
    images.build_image(tag, "brain-api", int(SPEC["port"]), SPEC["health"], variant=run)
    srv = FakeDokploy(api_keys={key}, docker=True, work_dir=tmp_path / "dokploy", latency=0)
    srv.start()
    [port] = free_ports(1)
    text = f"services:\n  web:\n    image: {tag}\n    container_name: cleanup-{run}\n    ports: ['127.0.0.1:{port}:8001']\n"
    try:
        with DokployClient(srv.base_url, key, allow_insecure_http=True) as client:
            project = client.project.create(f"cleanup-{run}")
            compose = client.compose.create("web", project["environment"]["environmentId"], source_type="raw", compose_file=text)
            deploy_and_wait(client, compose["composeId"], timeout=120, poll_interval=0.5)
        app = compose["appName"]
        srv.stop()
        images.remove_containers(f"cleanup-{run}")
        assert networks_of(app), "the compose's network is left after its containers are removed by name"
        remove_compose_apps(srv)
        assert networks_of(app) == []
        assert sh("docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={app}") == ""
    finally:
        srv.stop()
        remove_compose_apps(srv)
        images.remove_containers(f"cleanup-{run}")
        sh("docker", "rmi", "-f", tag)
