"""core/pr_env.py: a PR environment's stack name, its config made from stacks/pr.yaml, the cap, the throw-away secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.stack_config import settings_from_file
from core import dotenv, pr_env
from core.catalog import load_catalog_file, resolve, secret_names
from core.pr_env import Environment, evictions, pr_config, throwaway_secret
from tests.catalog_helpers import ROOT, SECRET_NAMES, raw_catalog

NS = "bizosaas-deploy"
TEMPLATE: dict[str, Any] = yaml.safe_load((ROOT / "stacks" / "pr.yaml").read_text())["config"]
BASE = "staging.bizoholic.com"


def test_stack_names() -> None:
    assert pr_env.stack_name(123) == "pr-123"
    assert [pr_env.pr_number(s) for s in ("pr-123", "organization/bizosaas-deploy/pr-7", "pr-0", "pr-x", "staging", "pr-12a")] == [
        123, 7, None, None, None, None]


def test_the_template_gives_each_pr_its_own_identity_and_hosts() -> None:
    config, problems = pr_config(TEMPLATE, 123, BASE, ["ghcr.io/bizoholic-digital/bizosaas-platform"])
    assert problems == []
    assert {k: config[f"{NS}:{k}"] for k in ("tag", "containerSuffix", "dokployProject", "domain", "registryName")} == {
        "tag": "pr-123", "containerSuffix": "pr-123", "dokployProject": "bizosaas-pr-123", "domain": "pr-123.staging.bizoholic.com",
        "registryName": "ghcr-preview-pr-123"}
    assert config[f"{NS}:env"]["ALLOWED_ORIGINS"] == "https://pr-123.staging.bizoholic.com"
    assert TEMPLATE[f"{NS}:env"]["ALLOWED_ORIGINS"] == "https://preview.invalid"  # the template itself is untouched


def test_the_shipped_template_resolves_with_small_limits_no_host_port_and_routes_under_the_pr_host() -> None:
    config, _ = pr_config(TEMPLATE, 5, BASE)
    catalog = resolve(raw_catalog(), settings_from_file("pr-5", config, SECRET_NAMES))
    assert len(catalog.services) == 14 and all(s.published == 0 for s in catalog.services.values())
    assert {s.name: dict(s.limits) for s in catalog.services.values()} == {
        name: {"cpus": 0.5, "memory": "256M", "pids": 256} for name in catalog.services}
    hosts = sorted(s.route.host for s in catalog.services.values() if s.route)
    assert len(hosts) == 11 and all(h == "pr-5.staging.bizoholic.com" or h.endswith(".pr-5.staging.bizoholic.com") for h in hosts)
    assert all(s.container_name.endswith("-pr-5") for s in catalog.services.values())


@pytest.mark.parametrize(
    ("change", "key", "says"),
    [
        ({f"{NS}:promoteFrom": "organization/bizosaas-deploy/staging"}, f"{NS}:promoteFrom", "never another stack's release"),
        ({f"{NS}:publishAddress": "0.0.0.0"}, f"{NS}:publishAddress", "publishes no host port"),
        ({f"{NS}:services": {"brain-api": {"published": 8001}}}, f"{NS}:services/brain-api/published", "publishes no host port"),
        ({f"{NS}:secrets": {"JWT_SECRET": "x"}}, f"{NS}:secrets", "which is committed"),
        ({f"{NS}:protect": True}, f"{NS}:protect", "destroyed when its pull request closes"),
        ({f"{NS}:registry": "ghcr.io/bizoholic-digital/bizosaas-platform"}, f"{NS}:registry", "a repository of their own"),
    ],
)
def test_what_a_pr_environment_must_not_do_is_refused_naming_the_key(change: dict[str, Any], key: str, says: str) -> None:
    _, problems = pr_config({**TEMPLATE, **change}, 9, BASE, ["ghcr.io/bizoholic-digital/bizosaas-platform/"])
    assert len(problems) == 1 and problems[0].startswith(f"stack pr-9: {key}: ") and says in problems[0], problems


def test_a_bad_base_domain_is_named() -> None:
    for bad in ("", "Staging.Example.com", "example", "-x.example.com", "a b.example.com"):
        _, problems = pr_config(TEMPLATE, 9, bad)
        assert [p.split(":")[1].strip() for p in problems] == ["PR_BASE_DOMAIN"], (bad, problems)


def test_the_cap_destroys_the_oldest_first() -> None:
    envs = [Environment("pr-4", 4, 300), Environment("pr-2", 2, 100), Environment("pr-9", 9, 0), Environment("pr-3", 3, 100)]
    assert evictions(envs, "pr-10", 5) == []
    assert evictions(envs, "pr-10", 4) == [Environment("pr-2", 2, 100)]  # the same first update: the lower PR number first
    assert [e.stack for e in evictions(envs, "pr-10", 2)] == ["pr-2", "pr-3", "pr-4"]  # never updated counts as the newest
    assert evictions(envs, "pr-4", 1) == []  # an environment already there is updated in place
    assert evictions(envs, "pr-10", 0) == []  # no cap


def test_throwaway_secrets_are_stable_per_pr_distinct_across_prs_and_carried_exactly_by_dokploy() -> None:
    names = sorted(secret_names(load_catalog_file(Path(ROOT / "catalog.yaml"))))
    one = {n: throwaway_secret("seed", "pr-1", n) for n in names}
    assert one == {n: throwaway_secret("seed", "pr-1", n) for n in names}
    assert not set(one.values()) & {throwaway_secret("seed", "pr-2", n) for n in names}
    assert not set(one.values()) & {throwaway_secret("other", "pr-1", n) for n in names}
    assert len(set(one.values())) == len(names)
    assert one["DATABASE_URL"].startswith("postgresql://bizosaas:") and one["REDIS_BASE_URL"].startswith("redis://:")
    assert all(dotenv.problem(v, stack_mode=True) is None for v in one.values())
