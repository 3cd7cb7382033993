"""Host ports and routes another project on the same Dokploy already has: found, and named with their owner."""

from __future__ import annotations

from core import clashes
from core.clashes import Binding, Claim, Other, Wanted

PROD_BACKEND = "compose backend (project bizosaas-prod, environment production)"
COMPOSE = """services:
  brain-api:
    image: x
    ports:
    - 127.0.0.1:8001:8001
    - "9000-9002:9000-9002"
    - 3000
    - "4000"
    - "[::1]:7001:7001/udp"
    - {target: 80, published: 8080, host_ip: 0.0.0.0}
    - "${PORT}:80"
  worker:
    image: y
"""


def test_the_ports_a_compose_file_publishes_in_every_syntax() -> None:
    found = {(b.address, b.port, b.protocol, b.service) for b in clashes.published(COMPOSE, "")}
    assert found == {("127.0.0.1", 8001, "tcp", "brain-api"), ("", 9000, "tcp", "brain-api"), ("", 9001, "tcp", "brain-api"),
                     ("", 9002, "tcp", "brain-api"), ("::1", 7001, "udp", "brain-api"), ("0.0.0.0", 8080, "tcp", "brain-api")}
    assert clashes.published("services: [not: valid", "") == ()
    assert clashes.published("", "") == ()


def test_a_port_another_compose_publishes_on_the_same_server_is_a_problem_naming_it() -> None:
    prod = Other(PROD_BACKEND, clashes.published(COMPOSE, ""))
    want = [Wanted(Binding("", "127.0.0.1", 8001, "tcp", "brain-api"), "bizosaas-deploy:services/brain-api/published")]
    [problem] = clashes.port_problems("staging", want, [prod])
    assert problem == (
        "stack staging: bizosaas-deploy:services/brain-api/published: host port 8001 on Dokploy's host is already published by "
        "compose backend (project bizosaas-prod, environment production) (service brain-api, 127.0.0.1:8001); one port can be "
        "bound once: publish brain-api on another port, or not at all (its route and dokploy-network reach it)"
    )
    every = [Wanted(Binding("", "", 8080, "tcp", "web"), "k")]  # stack mode binds every address
    assert clashes.port_problems("staging", every, [prod])


def test_other_servers_addresses_and_protocols_do_not_clash() -> None:
    prod = Other(PROD_BACKEND, clashes.published(COMPOSE, ""))
    assert clashes.port_problems("s", [Wanted(Binding("srv-1", "127.0.0.1", 8001), "k")], [prod], {"srv-1": "edge-1"}) == []
    assert clashes.port_problems("s", [Wanted(Binding("", "10.0.0.2", 8001), "k")], [prod]) == []  # prod binds loopback only
    assert clashes.port_problems("s", [Wanted(Binding("", "", 7001), "k")], [prod]) == []  # prod's 7001 is udp
    on_server = Other("compose x (project p, environment e)", clashes.published(COMPOSE, "srv-1"))
    [problem] = clashes.port_problems("s", [Wanted(Binding("srv-1", "", 9001), "k")], [on_server], {"srv-1": "edge-1"})
    assert "host port 9001 on server edge-1 is already published by compose x" in problem


def test_a_host_and_path_another_project_routes_is_a_problem_naming_it() -> None:
    rows = [{"host": "API.staging.example.com", "path": "/", "enabled": True, "serviceOwnerType": "application",
             "serviceName": "gateway", "projectName": "legacy", "environmentName": "production"},
            {"host": "cms.staging.example.com", "path": "/", "enabled": False, "serviceOwnerType": "compose",
             "serviceName": "old", "projectName": "legacy", "environmentName": "production"},
            {"host": "www.staging.example.com", "path": "/docs", "enabled": True, "serviceOwnerType": "compose",
             "serviceName": "docs", "projectName": "legacy", "environmentName": "production"}]
    claims = [Claim("api.staging.example.com", "/", "brain-api", "services/brain-api/route"),
              Claim("cms.staging.example.com", "/", "wagtail-cms", "services/wagtail-cms/route"),  # disabled there: not routed
              Claim("www.staging.example.com", "/", "bizoholic-frontend", "services/bizoholic-frontend/route")]  # another path
    assert clashes.route_problems("staging", claims, rows) == [
        "stack staging: services/brain-api/route: api.staging.example.com is already routed by application gateway (project legacy, "
        "environment production): Traefik would send its requests to either; give brain-api another host, or remove that domain in "
        "Dokploy"
    ]
