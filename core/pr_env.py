"""A live environment per pull request (pure): its stack's name, its config made from the template, its throw-away
secrets, and which environments the cap makes room by destroying.

A pull request N gets the stack ``pr-N``: the template's config (``stacks/pr.yaml``) with the PR's identity laid over it
(tag, container suffix, Dokploy project, routes under ``pr-N.<base domain>``, its own registry entry name in Dokploy).
Nothing here reads a file, the network or the clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PREFIX = "pr-"
NS = "bizosaas-deploy"
STACK = re.compile(r"^pr-([1-9][0-9]{0,8})$")
DNS_NAME = re.compile(r"^(?=.{1,200}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
REFUSED = {
    "promoteFrom": "a PR environment deploys the images its pull request built, never another stack's release",
    "pinnedRelease": "a PR environment deploys the images its pull request built, never a pinned release",
    "expectRelease": "a PR environment promotes nothing",
    "publishAddress": "a PR environment publishes no host port (several run at once on one host), so it has no publish address",
}
SECRET_KEYS = ("dokployApiKey", "registryToken", "registryPullToken", "secrets")
"""Keys a template never holds: a template is committed (secrets come from the environment or are made per PR)."""


def stack_name(pr: int) -> str:
    return f"{PREFIX}{pr}"


def pr_number(stack: str) -> int | None:
    """The pull request of a ``pr-N`` stack name (a fully qualified ``org/project/pr-N`` too); None for any other stack."""
    match = STACK.match(stack.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def pr_domain(pr: int, base_domain: str) -> str:
    """``pr-123.staging.example.com``: the PR's base domain, filling ``{domain}`` in the catalog's route hosts."""
    return f"{stack_name(pr)}.{base_domain}"


@dataclass(frozen=True)
class Environment:
    """One PR environment in the state backend."""

    stack: str
    pr: int
    created: int = 0
    """When its first update started (ns since the epoch, from the backend's history); 0: never updated."""


def evictions(existing: Sequence[Environment], opening: str, cap: int) -> list[Environment]:
    """The environments destroyed to make room for ``opening`` under ``cap`` (0: no cap), oldest first (the first update's
    time, then the PR number). An environment that exists already is updated in place: it evicts nobody."""
    others = [e for e in existing if e.stack != opening]
    if cap <= 0 or len(others) < len(existing):
        return []
    surplus = len(others) + 1 - cap
    oldest = sorted(others, key=lambda e: (e.created or 2**63, e.pr))
    return oldest[: max(surplus, 0)]


def pr_config(
    template: Mapping[str, Any], pr: int, base_domain: str, protected_registries: Sequence[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The plain config of stack ``pr-N`` (full keys), and every problem of the template or the settings, each naming the
    key (an empty list: the config may be written)."""
    stack = stack_name(pr)
    problems: list[str] = []

    def say(key: str, message: str) -> None:
        problems.append(f"stack {stack}: {key}: {message}")

    config = {str(k): v for k, v in template.items()}
    if not DNS_NAME.match(base_domain):
        say("PR_BASE_DOMAIN", f"{base_domain!r} should be a lower-case DNS name such as staging.example.com (the PR's routes go under "
                              f"{stack}.<it>)")
    for key, why in REFUSED.items():
        if f"{NS}:{key}" in config:
            say(f"{NS}:{key}", f"is set in the template: {why}")
    for key in SECRET_KEYS:
        if f"{NS}:{key}" in config:
            say(f"{NS}:{key}", "is in the template, which is committed: a PR stack's secrets come from the environment or are made "
                               "for the PR (README: Pull-request environments)")
    if config.get(f"{NS}:protect") is True:
        say(f"{NS}:protect", "is true in the template: a PR environment is destroyed when its pull request closes")
    services = config.get(f"{NS}:services") or {}
    for name, over in sorted(services.items()) if isinstance(services, Mapping) else ():
        if isinstance(over, Mapping) and over.get("published") not in (None, False):
            say(f"{NS}:services/{name}/published", "a PR environment publishes no host port: several run at once on one host, and "
                                                  "each is reached through its routes")
    registry = str(config.get(f"{NS}:registry") or "")
    if not registry:
        say(f"{NS}:registry", "is required in the template: the repository the PR's images are pushed to under their PR tag")
    elif registry.rstrip("/") in {r.rstrip("/") for r in protected_registries}:
        say(f"{NS}:registry", f"{registry} is where a shipped stack pushes its images: a PR's images go to a repository of their own, "
                              "since deleting a PR's tags must never touch an image another stack runs by digest")
    domain = pr_domain(pr, base_domain)
    config.update({f"{NS}:tag": stack, f"{NS}:containerSuffix": stack, f"{NS}:dokployProject": f"bizosaas-{stack}",
                   f"{NS}:domain": domain})
    routes = config.get(f"{NS}:routes")
    https = not (isinstance(routes, Mapping) and routes.get("https") is False)
    env = config.get(f"{NS}:env")
    if isinstance(env, Mapping) and "ALLOWED_ORIGINS" in env:  # the browser's origin: the PR's own frontend
        config[f"{NS}:env"] = {**env, "ALLOWED_ORIGINS": f"{'https' if https else 'http'}://{domain}"}
    if f"{NS}:registryPullUser" in config:  # its own Dokploy registry entry: only the stack that made one deletes it
        config[f"{NS}:registryName"] = f"{config.get(f'{NS}:registryName') or 'ghcr'}-{stack}"
    return config, problems


def throwaway_secret(seed: str, stack: str, name: str) -> str:
    """A secret made for one PR environment: the same on every run of that PR (no redeploy for it), another for every PR and
    every name, never a value of another stack; derived from ``seed`` (the pr-environments' own, never committed)."""
    token = hmac.new(seed.encode(), f"{stack}/{name}".encode(), hashlib.sha256).hexdigest()[:32]
    if name == "DATABASE_URL":
        return f"postgresql://bizosaas:{token}@database.invalid:5432/bizosaas_{stack.replace('-', '_')}"
    if name == "REDIS_BASE_URL":
        return f"redis://:{token}@redis.invalid:6379"
    return token
