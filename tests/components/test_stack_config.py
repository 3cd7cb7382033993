"""Stack config checks: one namespace, every problem at once, each naming the stack, the key and the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.stack_config import MIGRATE, check, read_deploy, settings_from_file
from core.catalog import load_catalog_file, resolve, secret_names

NS = "bizosaas-deploy"
SECRETS = {"DATABASE_URL": "postgresql://x", "JWT_SECRET": "j"}


def base() -> tuple[dict[str, Any], set[str]]:
    """A complete staging config as the engine passes it (objects as JSON text) and its secret keys."""
    values = {
        f"{NS}:registry": "ghcr.io/o/p",
        f"{NS}:dokployUrl": "https://dokploy.example.test",
        f"{NS}:dokployApiKey": "k",
        f"{NS}:registryUser": "o",
        f"{NS}:registryToken": "t",
        f"{NS}:healthTimeout": "180",
        f"{NS}:rollbackOnFailure": "false",
        f"{NS}:env": json.dumps({"ENVIRONMENT": "staging"}),
        f"{NS}:secrets": json.dumps(SECRETS),
    }
    return values, {f"{NS}:dokployApiKey", f"{NS}:registryToken", f"{NS}:secrets"}


def problems(change: dict[str, Any] | None = None, drop: tuple[str, ...] = (), plain: tuple[str, ...] = (), **kw: Any) -> list[str]:
    values, secret = base()
    values.update(change or {})
    for key in drop:
        values.pop(key)
    return check("staging", values, secret - set(plain), environ=kw.pop("environ", {}), **kw)


def test_a_complete_config_in_the_project_namespace_has_no_problem() -> None:
    assert problems() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"bizosaas:dokployApiKey": "k"},
            "stack staging: bizosaas:dokployApiKey: this program reads the bizosaas-deploy: namespace "
            "(the project name), not bizosaas: ; set it again with `pulumi config set --secret dokployApiKey <value>`, "
            "or move every key at once: " + MIGRATE.format(stack="staging"),
        ),
        (
            {"docker:host": "tcp://x"},
            "stack staging: docker:host: nothing reads the docker: namespace; this program reads "
            "bizosaas-deploy: keys (`pulumi config set host <value>`)",
        ),
        (
            {f"{NS}:dokployURL": "https://x"},
            "stack staging: bizosaas-deploy:dokployURL: unknown key; did you mean dokployUrl? known keys: ",
        ),
        ({f"{NS}:healthTimeout": "soon"}, "stack staging: bizosaas-deploy:healthTimeout: 'soon' should be a number of seconds, more"),
        ({f"{NS}:stabilityWindow": "long"}, "stack staging: bizosaas-deploy:stabilityWindow: 'long' should be a number of seconds"),
        ({f"{NS}:rollbackOnFailure": "no"}, "stack staging: bizosaas-deploy:rollbackOnFailure: 'no' should be true or false"),
        (
            {f"{NS}:services": "[1]"},
            "stack staging: bizosaas-deploy:services: should be an object (`pulumi config set --path services.KEY <value>`)",
        ),
        ({f"{NS}:dokployUrl": " "}, "stack staging: bizosaas-deploy:dokployUrl: ' ' should be non-empty text"),
        ({f"{NS}:testGate": "off"}, "stack staging: bizosaas-deploy:testGate: 'off' should be true or false"),
        ({f"{NS}:testTimeout": "0"}, "stack staging: bizosaas-deploy:testTimeout: 0 should be a number of seconds, more than 0"),
        ({f"{NS}:testTimeout": "2m"}, "stack staging: bizosaas-deploy:testTimeout: '2m' should be a number of seconds"),
        ({f"{NS}:testgate": "false"}, "stack staging: bizosaas-deploy:testgate: unknown key; did you mean testGate?"),
        (
            {f"{NS}:dokployUnreachableTimeout": "0"},
            "stack staging: bizosaas-deploy:dokployUnreachableTimeout: 0 should be a number of seconds from 1 to 3600",
        ),
        (
            {f"{NS}:deployLogSilence": "-5"},
            "stack staging: bizosaas-deploy:deployLogSilence: -5 should be a number of seconds from 0 to 86400 (0: never)",
        ),
    ],
)
def test_each_bad_key_is_one_line_naming_the_key_and_the_command(change: dict[str, Any], message: str) -> None:
    [problem] = problems(change)
    assert problem.startswith(message)


def test_the_gate_keys_are_valid_config() -> None:
    assert problems({f"{NS}:testGate": "false", f"{NS}:testTimeout": "30"}) == []


def test_the_outage_keys_are_valid_config_within_their_ranges() -> None:
    assert problems({f"{NS}:dokployUnreachableTimeout": "300", f"{NS}:deployLogSilence": "0"}) == []


def test_a_secret_set_as_plain_text_is_refused_with_the_command_that_fixes_it() -> None:
    assert problems(plain=(f"{NS}:registryToken",)) == [
        "stack staging: bizosaas-deploy:registryToken: is a secret but set as plain text: `pulumi config rm registryToken`, "
        "then `pulumi config set --secret registryToken <value>`"
    ]


def test_every_value_under_secrets_must_be_secret_in_the_stack_file() -> None:
    stack_file = {"config": {f"{NS}:secrets": {"DATABASE_URL": {"secure": "v1:abc"}, "JWT_SECRET": "plain-value"}}}
    assert problems(stack_file=stack_file) == [
        "stack staging: bizosaas-deploy:secrets/JWT_SECRET: is plain text in Pulumi.staging.yaml; every value under secrets must be "
        "secret: `pulumi config set --secret --path secrets.JWT_SECRET <value>`"
    ]
    assert "plain-value" not in " ".join(problems(stack_file=stack_file))


def test_missing_required_keys_and_the_api_key_are_reported_together_in_one_run() -> None:
    found = problems({"bizosaas:registryToken": "x", f"{NS}:dokployProjekt": "p"}, drop=(f"{NS}:dokployApiKey", f"{NS}:dokployUrl"))
    assert [p.split(": ")[1] for p in found] == [
        f"{NS}:dokployProjekt",
        "bizosaas:registryToken",
        f"{NS}:dokployUrl",
        f"{NS}:dokployApiKey",
    ]


def test_the_api_key_may_come_from_the_environment() -> None:
    assert problems(drop=(f"{NS}:dokployApiKey",), environ={"DOKPLOY_API_KEY": "k"}) == []


def test_a_push_user_needs_its_token_unless_the_stack_pushes_nothing() -> None:
    assert problems(drop=(f"{NS}:registryToken",)) == [
        "stack staging: bizosaas-deploy:registryToken: is required with registryUser: `pulumi config set --secret registryToken <value>`"
    ]
    assert problems({f"{NS}:promoteFrom": "o/p/staging"}, drop=(f"{NS}:registryToken",)) == []


def test_engine_namespace_is_left_to_the_engine() -> None:
    assert problems({"pulumi:disable-default-providers": '["docker"]'}) == []


def test_pinned_and_expected_releases_are_release_ids_and_expect_needs_a_promotion() -> None:
    assert problems({f"{NS}:pinnedRelease": "r-0123456789ab"}, drop=(f"{NS}:registryToken",)) == []
    assert problems({f"{NS}:promoteFrom": "o/p/staging", f"{NS}:expectRelease": "r-0123456789ab"}) == []
    old_pin = json.dumps({"brain-api": "ghcr.io/o/p/brain-api@sha256:" + "1" * 64})  # written by an older deployctl: still read
    assert problems({f"{NS}:pinnedRelease": old_pin}) == []
    assert problems({f"{NS}:pinnedRelease": "last-week"}) == [
        f"stack staging: {NS}:pinnedRelease: 'last-week' should be a release id like r-0123456789ab"
    ]
    assert problems({f"{NS}:expectRelease": "latest"}) == [
        f"stack staging: {NS}:expectRelease: 'latest' should be a release id like r-0123456789ab",
        f"stack staging: {NS}:expectRelease: is only read together with {NS}:promoteFrom",
    ]
@pytest.mark.parametrize(
    ("extra", "window"),
    [
        ({}, 10.0),
        ({f"{NS}:promoteFrom": "o/p/staging"}, 30.0),  # prod watches longer
        ({f"{NS}:stabilityWindow": "3"}, 3.0),
        ({f"{NS}:promoteFrom": "o/p/staging", f"{NS}:stabilityWindow": "0.5"}, 0.5),
    ],
)
def test_stability_window_is_30s_for_a_promoted_stack_and_10s_otherwise(extra: dict[str, str], window: float) -> None:
    values, secret = base()
    pulumi.runtime.set_all_config({**values, **extra}, list(secret))
    assert read_deploy(pulumi.Config(NS), "staging").stability_window == window


ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_prod_and_staging_stacks_cannot_verify_each_other() -> None:
    """Verification reads each stack's own compose projects (Dokploy project -> composes -> appName), never a URL both answer."""
    files = {name: yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text())["config"] for name in ("staging", "prod")}
    for name, config in files.items():
        assert f"{NS}:healthUrl" not in config, f"{name}: a health URL is not what verification rests on (and prod's reached staging's)"
        values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
        problems = check(name, {**values, f"{NS}:dokployApiKey": "k", f"{NS}:registryToken": "t", f"{NS}:registryPullToken": "t"},
                         {f"{NS}:dokployApiKey", f"{NS}:registryToken", f"{NS}:registryPullToken"}, environ={})
        assert problems == [], problems
    staging, prod = files["staging"], files["prod"]
    assert staging[f"{NS}:dokployUrl"] == prod[f"{NS}:dokployUrl"]  # one Dokploy host ...
    assert staging[f"{NS}:dokployProject"] != prod[f"{NS}:dokployProject"]  # ... two projects: two sets of composes and appNames
    raw = load_catalog_file(ROOT / "catalog.yaml")
    names = {n: {s.container_name for s in resolve(raw, settings_from_file(n, c, secret_names(raw))).services.values()}
             for n, c in files.items()}
    assert not names["staging"] & names["prod"]  # and no container name in common
    assert (staging[f"{NS}:stabilityWindow"], prod[f"{NS}:stabilityWindow"]) == (10, 30)


def test_compose_projects_is_an_object_read_into_the_settings() -> None:
    assert problems({f"{NS}:composeProjects": "[1]"}) == [
        f"stack staging: {NS}:composeProjects: should be an object (`pulumi config set --path composeProjects.KEY <value>`)"
    ]
    projects = {"backend": {"mode": "stack", "server": "edge-1", "ports": "host", "endpointMode": "dnsrr"}}
    assert problems({f"{NS}:composeProjects": json.dumps(projects)}) == []
    config = {f"{NS}:registry": "ghcr.io/o/p", f"{NS}:composeProjects": projects, f"{NS}:publishAddress": "0.0.0.0"}
    read = settings_from_file("staging", config, frozenset())
    assert read.projects == projects and read.publish_address == "0.0.0.0" and read.publish_address_given is True
    assert settings_from_file("staging", {f"{NS}:registry": "r"}, frozenset()).publish_address_given is False


def test_the_shipped_staging_and_prod_share_one_dokploy_host_and_clash_in_nothing() -> None:
    """Container names, host ports, routes and Dokploy projects: what two stacks on one Dokploy host could fight over."""
    from core import clashes
    from core.compose import render_compose

    files = {name: yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text())["config"] for name in ("staging", "prod")}
    raw = load_catalog_file(ROOT / "catalog.yaml")
    cats = {n: resolve(raw, settings_from_file(n, c, secret_names(raw))) for n, c in files.items()}
    assert (files["staging"][f"{NS}:domain"], files["prod"][f"{NS}:domain"]) == ("staging.bizoholic.com", "bizoholic.com")
    for name, cat in cats.items():
        assert all(s.published == 0 for s in cat.services.values()), f"{name} publishes a host port"
        assert len([s for s in cat.services.values() if s.route]) == 11 and cat.warnings == ()
    hosts = {n: {(s.route.host, s.route.path) for s in c.services.values() if s.route} for n, c in cats.items()}
    assert not hosts["staging"] & hosts["prod"]
    digests = dict.fromkeys(cats["prod"].services, "sha256:" + "0" * 64)
    prod_ports = [clashes.Other(g, clashes.published(render_compose(cats["prod"], g, digests), "")) for g in ("backend", "frontend")]
    prod_domains = [{"host": h, "path": p, "enabled": True} for h, p in hosts["prod"]]
    claims = [clashes.Claim(s.route.host, s.route.path, n, "k") for n, s in cats["staging"].services.items() if s.route]
    assert clashes.route_problems("staging", claims, prod_domains) == [] and all(not o.bindings for o in prod_ports)


def test_traefik_addresses_are_checked_and_default_to_the_dokploy_host() -> None:
    assert problems({f"{NS}:traefikUrl": "https://127.0.0.1:8443"}) == [
        f"stack staging: {NS}:traefikUrl: 'https://127.0.0.1:8443' should be http://host[:port], the address of the Traefik web entrypoint "
        "(plain http) of the Dokploy host, without a path"
    ]
    assert problems({f"{NS}:traefikHttpsUrl": "https://10.0.0.5:8443", f"{NS}:traefikUrl": "http://10.0.0.5"}) == []
    values, secret = base()
    pulumi.runtime.set_all_config({**values, f"{NS}:traefikUrl": "http://127.0.0.1:8880"}, list(secret))
    assert read_deploy(pulumi.Config(NS), "staging").traefik == {"web": "http://127.0.0.1:8880", "websecure": "https://127.0.0.1"}
    pulumi.runtime.set_all_config({**values, f"{NS}:routes": json.dumps({"verify": False})}, list(secret))
    assert read_deploy(pulumi.Config(NS), "staging").traefik == {}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("healthTimeout", "0", "0 should be a number of seconds, more than 0 and at most 86400"),
        ("healthTimeout", "-5", "-5 should be a number of seconds, more than 0 and at most 86400"),
        ("deployTimeout", "0", "0 should be a number of seconds, more than 0 and at most 86400"),
        ("deployTimeout", "100000", "100000 should be a number of seconds, more than 0 and at most 86400"),
        ("stabilityWindow", "0", "0 should be a number of seconds, more than 0 and at most 3600"),
        ("stabilityWindow", "-1", "-1 should be a number of seconds, more than 0 and at most 3600"),
        ("pollInterval", "0", "0 should be a number of seconds from 0.1 to 5"),
        ("pollInterval", "-0.5", "-0.5 should be a number of seconds from 0.1 to 5"),
        ("pollInterval", "30", "30 should be a number of seconds from 0.1 to 5"),
        ("testTimeout", "-1", "-1 should be a number of seconds, more than 0 and at most 3600"),
    ],
)
def test_a_timeout_window_or_interval_out_of_range_is_an_error_naming_the_key_and_the_range(key: str, value: str, message: str) -> None:
    """Issue 22.5: never replaced by a default or clamped."""
    assert problems({f"{NS}:{key}": value}) == [f"stack staging: {NS}:{key}: {message}"]


def test_in_range_numbers_are_read_as_given() -> None:
    values, secret = base()
    given = {f"{NS}:healthTimeout": "0.5", f"{NS}:stabilityWindow": "0.25", f"{NS}:deployTimeout": "86400", f"{NS}:pollInterval": "0.1"}
    assert problems(given) == []
    pulumi.runtime.set_all_config({**values, **given}, list(secret))
    deploy = read_deploy(pulumi.Config(NS), "staging")
    assert (deploy.health_timeout, deploy.stability_window, deploy.deploy_timeout, deploy.poll_interval) == (0.5, 0.25, 86400.0, 0.1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({f"{NS}:services": json.dumps({"brain-api": {"publshed": 9000}})},
         f"{NS}:services/brain-api/publshed: unknown key; did you mean published? (allowed: deploy, enabled, env, local_image, published, "
         "route)"),
        ({f"{NS}:services": json.dumps({"brain-api": {"published": False, "deploy": {"update_config": {"ordr": "stop-first"}}}})},
         f"{NS}:services/brain-api/deploy/update_config/ordr: unknown key; did you mean order?"),
        ({f"{NS}:composeProjects": json.dumps({"backend": {"mdoe": "stack"}})},
         f"{NS}:composeProjects/backend/mdoe: unknown key; did you mean mode? (allowed: endpointMode, mode, ports, server)"),
        ({f"{NS}:composeProjects": json.dumps({"backend": {"mode": "swarm"}})},
         f"{NS}:composeProjects/backend/mode: 'swarm' should be compose (docker compose) or stack"),
        ({f"{NS}:services": json.dumps({"brain-api": {"published": 0}})},
         f"{NS}:services/brain-api/published: 0 should be a port number in 1-65535"),
        ({f"{NS}:env": json.dumps({"LOG_LEVEL": {"level": "INFO"}})}, f"{NS}:env/LOG_LEVEL: should be text or a number"),
        ({f"{NS}:secrets": json.dumps({"DATABASE_URL": {"x": 1}})}, f"{NS}:secrets: should be an object of NAME: secret"),
    ],
)
def test_nested_keys_are_checked_at_every_depth_with_the_nearest_name(change: dict[str, Any], message: str) -> None:
    """Issue 22.5: a key nothing reads, at any depth, is reported with the nearest valid name."""
    found = problems(change)
    assert any(p.startswith(f"stack staging: {message}") for p in found), found


def test_text_keys_keep_their_text_and_number_keys_their_number() -> None:
    """The engine hands every value over as text: a tag of digits is still a tag, a number of seconds a number."""
    assert problems({f"{NS}:tag": "2024", f"{NS}:containerSuffix": "123", f"{NS}:healthTimeout": "90"}) == []
    assert problems({f"{NS}:registryToken": "12345"}) == []  # a secret of digits is a secret
