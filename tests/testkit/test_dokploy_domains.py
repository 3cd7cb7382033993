"""The stand-in's domains: the ``domain.*`` procedures as Dokploy v0.30.2 answers them, and the compose file a deploy
runs rewritten with Traefik labels as Dokploy's ``addDomainToCompose`` / ``createDomainLabels`` rewrite it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from dokploy_api import DokployClient, DokployNotFound, DokployValidationError
from testkit.dokploy import FakeDokploy
from testkit.dokploy.domains import converted, domain_labels

COMPOSE = """services:
  web:
    image: nginx
    labels:
      com.example.role: web
    networks:
    - dokploy-network
  worker:
    image: busybox
networks:
  dokploy-network:
    external: true
"""
STACK = """services:
  web:
    image: nginx
    networks:
      dokploy-network:
        aliases: [web-staging]
    deploy:
      replicas: 2
      labels: {com.example.role: web}
networks:
  dokploy-network:
    external: true
"""


@pytest.fixture
def world() -> Iterator[tuple[FakeDokploy, DokployClient, str]]:
    key = secrets.token_hex(16)
    srv = FakeDokploy(api_keys={key}, latency=0, deploy_start_delay=0.02, deploy_duration=0.02)
    srv.start()
    with DokployClient(srv.base_url, key, allow_insecure_http=True) as client:
        project = client.project.create("domains")
        compose = client.compose.create("web", project["environment"]["environmentId"], source_type="raw")
        client.compose.update(compose["composeId"], composeFile=COMPOSE)
        yield srv, client, compose["composeId"]
    srv.stop()


def body(compose_id: str, **over: Any) -> dict[str, Any]:
    return {"host": "app.example.com", "path": "/", "port": 8080, "https": False, "certificateType": "none", "composeId": compose_id,
            "serviceName": "web", "domainType": "compose", **over}


def test_a_created_domain_is_a_row_with_dokploys_columns_and_defaults(world: tuple[FakeDokploy, DokployClient, str]) -> None:
    _, client, compose_id = world
    row = client.domain.create({"host": "app.example.com", "composeId": compose_id, "serviceName": "web"})
    assert list(row) == ["domainId", "host", "https", "port", "customEntrypoint", "path", "serviceName", "domainType", "uniqueConfigKey",
                         "createdAt", "composeId", "customCertResolver", "applicationId", "previewDeploymentId", "certificateType",
                         "internalPath", "stripPath", "middlewares", "forwardAuthEnabled", "enabled"]
    assert (row["https"], row["port"], row["path"], row["domainType"], row["certificateType"], row["enabled"]) == (
        False, 3000, "/", "application", "none", True)  # domainType defaults to application even for a compose's domain
    second = client.domain.create(body(compose_id, host="b.example.com"))
    assert second["uniqueConfigKey"] == row["uniqueConfigKey"] + 1
    client.domain.delete(second["domainId"])
    assert client.domain.create(body(compose_id, host="c.example.com"))["uniqueConfigKey"] == row["uniqueConfigKey"] + 2  # a serial


def test_reads_updates_and_deletes_answer_as_dokploy(world: tuple[FakeDokploy, DokployClient, str]) -> None:
    _, client, compose_id = world
    row = client.domain.create(body(compose_id))
    [listed] = client.domain.by_compose_id(compose_id)
    assert listed["compose"] == {"composeId": compose_id, "appName": client.compose.one(compose_id)["appName"], "name": "web"}
    assert client.domain.one(row["domainId"])["application"] is None
    updated = client.domain.update({"domainId": row["domainId"], "host": "new.example.com", "port": 9090})
    assert (updated["host"], updated["port"], updated["https"]) == ("new.example.com", 9090, False)  # the rest as it was
    assert client.compose.one(compose_id)["domains"][0]["host"] == "new.example.com"
    assert client.domain.by_compose_id("no-such-compose") == []
    assert client.domain.delete(row["domainId"])["host"] == "new.example.com"
    for call in (lambda: client.domain.one(row["domainId"]), lambda: client.domain.delete(row["domainId"]),
                 lambda: client.domain.update({"domainId": row["domainId"], "host": "x.example.com"})):
        with pytest.raises(DokployNotFound, match="Domain not found"):
            call()


@pytest.mark.parametrize(("over", "message"), [
    ({"host": "bad_host.example.com"}, "Invalid domain name. Use only letters, numbers, hyphens and dots"),
    ({"host": " app.example.com"}, "Domain name cannot have leading or trailing spaces"),
    ({"host": ""}, "host"),
    ({"port": 70000}, "port"),
    ({"certificateType": "acme"}, "certificateType"),
    ({"composeId": "nope"}, 'violates foreign key constraint "domain_composeId_compose_composeId_fk"'),
])
def test_bad_domains_are_refused_with_dokploys_messages(world: tuple[FakeDokploy, DokployClient, str], over: dict[str, Any],
                                                        message: str) -> None:
    _, client, compose_id = world
    with pytest.raises(DokployValidationError, match=message):
        client.domain.create(body(compose_id, **over))


def test_compose_delete_deletes_its_domains_and_returns_them(world: tuple[FakeDokploy, DokployClient, str]) -> None:
    srv, client, compose_id = world
    row = client.domain.create(body(compose_id))
    deleted = client.compose.delete(compose_id)
    assert [d["domainId"] for d in deleted["domains"]] == [row["domainId"]]
    assert srv.state.snapshot()["domains"] == []
    assert client.overview.domains() == []


def test_overview_domains_names_each_domains_owner(world: tuple[FakeDokploy, DokployClient, str]) -> None:
    _, client, compose_id = world
    client.domain.create(body(compose_id))
    [row] = client.overview.domains()
    assert {k: row[k] for k in ("host", "serviceOwnerType", "serviceName", "projectName", "environmentName", "serviceOwnerId")} == {
        "host": "app.example.com", "serviceOwnerType": "compose", "serviceName": "web", "projectName": "domains",
        "environmentName": "production", "serviceOwnerId": compose_id}


def test_the_converted_compose_has_the_labels_and_networks_dokploy_writes(world: tuple[FakeDokploy, DokployClient, str]) -> None:
    _, client, compose_id = world
    key = client.domain.create(body(compose_id))["uniqueConfigKey"]
    app = client.compose.one(compose_id)["appName"]
    doc = yaml.safe_load(client.query("compose.getConvertedCompose", composeId=compose_id))
    web = doc["services"]["web"]
    router = f"{app}-{key}-web"
    assert web["labels"] == {
        "com.example.role": "web",
        "traefik.enable": "true",
        "traefik.docker.network": "dokploy-network",
        f"traefik.http.routers.{router}.rule": "Host(`app.example.com`)",
        f"traefik.http.routers.{router}.entrypoints": "web",
        f"traefik.http.services.{router}.loadbalancer.server.port": "8080",
        f"traefik.http.routers.{router}.service": router,
    }
    assert web["networks"] == ["dokploy-network", "default"]  # and the project's default network
    assert "labels" not in doc["services"]["worker"] and "networks" not in doc["services"]["worker"]
    assert doc["networks"] == {"dokploy-network": {"external": True}}


def test_stack_mode_labels_go_on_the_service_with_the_swarm_network_label(world: tuple[FakeDokploy, DokployClient, str]) -> None:
    _, client, compose_id = world
    client.compose.update(compose_id, composeType="stack", composeFile=STACK)
    key = client.domain.create(body(compose_id, https=True, certificateType="letsencrypt", path="/api", stripPath=True))["uniqueConfigKey"]
    app = client.compose.one(compose_id)["appName"]
    web = yaml.safe_load(client.query("compose.getConvertedCompose", composeId=compose_id))["services"]["web"]
    labels = web["deploy"]["labels"]
    assert labels["traefik.swarm.network"] == "dokploy-network" and "traefik.docker.network" not in labels
    assert labels[f"traefik.http.routers.{app}-{key}-web.middlewares"] == "redirect-to-https@file"
    assert labels[f"traefik.http.routers.{app}-{key}-websecure.rule"] == "Host(`app.example.com`) && PathPrefix(`/api`)"
    assert labels[f"traefik.http.routers.{app}-{key}-websecure.middlewares"] == f"stripprefix-{app}-{key}"
    assert labels[f"traefik.http.middlewares.stripprefix-{app}-{key}.stripprefix.prefixes"] == "/api"
    assert labels[f"traefik.http.routers.{app}-{key}-websecure.tls.certresolver"] == "letsencrypt"
    assert web["networks"] == {"dokploy-network": {"aliases": ["web-staging"]}, "default": {}}
    assert "labels" not in web  # container labels are not what Traefik's Swarm provider reads


def test_labels_of_every_domain_are_rewritten_and_a_disabled_one_routes_nothing() -> None:
    compose = {"appName": "app-x", "composeType": "docker-compose", "composeFile": (
        "services:\n  web:\n    image: nginx\n    labels:\n    - traefik.http.routers.app-x-4-web.rule=Host(`stale.example.com`)\n"
        "    - keep=me\n")}
    domain = {"uniqueConfigKey": 4, "host": "app.example.com", "path": "/", "port": 80, "https": False, "serviceName": "web",
              "enabled": False, "certificateType": "none"}
    web = yaml.safe_load(converted(compose, [domain]))["services"]["web"]
    assert web["labels"] == ["keep=me"] and "networks" not in web  # the stale label of key 4 removed, nothing added
    web = yaml.safe_load(converted(compose, [{**domain, "enabled": True}]))["services"]["web"]
    assert web["labels"] == ["traefik.docker.network=dokploy-network", *domain_labels("app-x", {**domain, "enabled": True}, "web"),
                             "traefik.enable=true", "keep=me"]


def test_createdomainlabels_tls_and_custom_resolver() -> None:
    base = {"uniqueConfigKey": 1, "host": "example.com", "path": "/", "port": 8080, "https": True, "certificateType": "none"}
    assert "traefik.http.routers.a-1-websecure.tls=true" in domain_labels("a", base, "websecure")
    assert not [x for x in domain_labels("a", base, "web") if "tls" in x]
    custom = {**base, "certificateType": "custom", "customCertResolver": "dns"}
    assert "traefik.http.routers.a-1-websecure.tls.certresolver=dns" in domain_labels("a", custom, "websecure")
    internal = {**base, "https": False, "internalPath": "/app"}
    assert domain_labels("a", internal, "web")[-2:] == ["traefik.http.middlewares.addprefix-a-1.addprefix.prefix=/app",
                                                        "traefik.http.routers.a-1-web.middlewares=addprefix-a-1"]


def test_a_deploy_runs_the_converted_file_and_a_domain_of_a_missing_service_fails_it(world: tuple[FakeDokploy, DokployClient, str]) -> None:
    srv, client, compose_id = world
    client.domain.create(body(compose_id))
    app = client.compose.one(compose_id)["appName"]
    client.compose.deploy(compose_id)
    assert srv.wait_idle(10)
    assert "traefik.enable" in srv.state.disk[app] and client.compose.one(compose_id)["composeStatus"] == "done"
    client.domain.create(body(compose_id, host="b.example.com", serviceName="api"))
    client.compose.deploy(compose_id)
    assert srv.wait_idle(10)
    deadline = time.monotonic() + 5
    while client.compose.one(compose_id)["composeStatus"] != "error" and time.monotonic() < deadline:
        time.sleep(0.05)
    [last, *_] = client.deployment.all_by_compose(compose_id)
    assert last["status"] == "error"
    log = client.deployment.read_logs(last["deploymentId"])
    assert '❌ Has occurred an error: Domain "b.example.com" is attached to service "api" which does not exist in the compose' in log
