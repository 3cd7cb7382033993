"""DokployRegistry: the registry credentials Dokploy logs in with before it pulls (``registry.*``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.compose_project_inputs import sha256_text
from components.provider_support import DokployProviderBase, connection_props, guard, is_unknown, norm_url, props_of, read_result, same
from dokploy_api import DokployConfigError, check_base_url
from dokploy_api.lookup import at_most_one

REGISTRY_INPUTS = ("dokploy_url", "api_key", "registry_name", "registry_url", "username", "password", "allow_insecure_http")
REGISTRY_SECRET_OUTPUTS = ["password_sha256"]


def _secrets(props: Mapping[str, Any]) -> list[str]:
    return [props[k] for k in ("api_key", "password") if isinstance(props.get(k), str) and props[k]]


@dataclass
class RegistryArgs:
    """Docker registry credentials Dokploy logs in with (registryType "cloud")."""

    dokploy_url: str
    registry_name: Input[str]
    registry_url: Input[str]
    """host[:port] without scheme, e.g. "ghcr.io"."""
    username: Input[str]
    password: Input[str]
    """Secret; kept in state only as a secret hash."""
    allow_insecure_http: bool = False


@dataclass
class RegistryProvider(DokployProviderBase, ResourceProvider):
    """Dynamic provider behind DokployRegistry: registry.create / update / remove; adopts one of the same name."""

    def _redactions(self, props: Mapping[str, Any]) -> list[str]:
        return [v for v in (props.get("password"),) if isinstance(v, str)]

    @staticmethod
    def _outputs(p: Mapping[str, Any], registry_id: str) -> dict[str, Any]:
        return {
            "registry_id": registry_id,
            "dokploy_url": p.get("dokploy_url"),
            "registry_name": p.get("registry_name"),
            "registry_url": p.get("registry_url"),
            "username": p.get("username"),
            "allow_insecure_http": bool(p.get("allow_insecure_http")),
            "password_sha256": sha256_text(p.get("password")),
        }

    @staticmethod
    def _fields(p: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "registryName": p["registry_name"],
            "registryUrl": p["registry_url"],
            "username": p["username"],
            "password": p["password"],
            "registryType": "cloud",
            "imagePrefix": None,
        }

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        p = props_of(news)
        failures: list[CheckFailure] = []
        for key in ("dokploy_url", "registry_name", "registry_url", "username", "password"):
            if key not in p:
                failures.append(CheckFailure(key, f"{key}: is required"))
        if "dokploy_url" in p and not is_unknown(p["dokploy_url"]):
            try:
                check_base_url(p["dokploy_url"], allow_insecure_http=bool(p.get("allow_insecure_http")))
            except DokployConfigError as exc:
                failures.append(CheckFailure("dokploy_url", str(exc)))
        for key in ("registry_name", "username", "password"):
            v = p.get(key)
            if key in p and not is_unknown(v) and (not isinstance(v, str) or not v.strip()):
                failures.append(CheckFailure(key, f"{key}: should be a non-empty string"))
        url = p.get("registry_url")
        if (
            "registry_url" in p
            and not is_unknown(url)
            and (not isinstance(url, str) or (url and not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?", url)))
        ):
            failures.append(CheckFailure("registry_url", "registry_url: should be host[:port] without scheme, e.g. ghcr.io"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old, new = props_of(olds), props_of(news)
        url = new.get("dokploy_url")
        moved = url is not None and not is_unknown(url) and "dokploy_url" in old and norm_url(old["dokploy_url"]) != norm_url(url)
        replaces = ["dokploy_url"] if moved else []
        changed = [
            k
            for k in ("registry_name", "registry_url", "username", "allow_insecure_http")
            if k in new and (is_unknown(new[k]) or not same(old.get(k), new[k]))
        ]
        if "password" in new and (is_unknown(new["password"]) or old.get("password_sha256") != sha256_text(new["password"])):
            changed.append("password")
        if is_unknown(new.get("dokploy_url")):
            changed.append("dokploy_url")
        return DiffResult(changes=bool(replaces or changed), replaces=replaces, stables=[], delete_before_replace=bool(replaces))

    @guard(_secrets)
    def create(self, props: dict[str, Any]) -> CreateResult:
        p = props_of(props)
        with self._client(p, "create") as client:
            same_name = [r for r in client.registry.all() if isinstance(r, dict) and r.get("registryName") == p["registry_name"]]
            found = at_most_one(
                same_name, "registryId", "registry.all", f"registries are named {p['registry_name']!r}", "; remove all but one"
            )
            if found is not None:
                registry_id = found["registryId"]
                client.registry.update(registry_id, **self._fields(p))
            else:
                registry_id = client.registry.create(
                    p["registry_name"], p["registry_url"], p["username"], p["password"], registry_type="cloud", image_prefix=None
                )["registryId"]
        return CreateResult(registry_id, self._outputs(p, registry_id))

    @guard(_secrets)
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = props_of(olds), props_of(news)
        outs = self._outputs(new, _id)
        if all(same(old.get(k), outs[k]) for k in ("registry_name", "registry_url", "username", "password_sha256")):
            return UpdateResult(outs)
        with self._client(new, "update") as client:
            client.registry.update(_id, **self._fields(new))
        return UpdateResult(outs)

    @guard(_secrets)
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self._live(props, lambda client: client.registry.one(id_))
        if live is None:
            return ReadResult("", {})
        outs = {k: v for k, v in props_of(props).items() if k not in ("api_key", "password")}
        outs["registry_id"] = id_
        drifted = False
        for key, live_key in (("registry_name", "registryName"), ("registry_url", "registryUrl"), ("username", "username")):
            if live.get(live_key) is not None and outs.get(key) != live.get(live_key):
                outs[key] = live.get(live_key)
                drifted = True
        return read_result(id_, outs, REGISTRY_INPUTS, drifted)

    @guard(_secrets)
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self._delete(props_of(props), lambda client: client.registry.remove(id_))


class DokployRegistry(Resource, module="dokploy", name="Registry"):
    """Registry credentials in Dokploy (it runs `docker login` with them on its host)."""

    registry_id: Output[str]
    """Dokploy registry id (also the resource id)."""
    password_sha256: Output[str]
    """Secret hash of the password, to notice a rotation."""

    def __init__(self, name: str, args: RegistryArgs, opts: ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            **connection_props(args.dokploy_url, args.allow_insecure_http),
            "registry_name": args.registry_name,
            "registry_url": args.registry_url,
            "username": args.username,
            "password": Output.secret(args.password),
            "registry_id": None,
            "password_sha256": None,
        }
        opts = ResourceOptions.merge(ResourceOptions(additional_secret_outputs=list(REGISTRY_SECRET_OUTPUTS)), opts)
        super().__init__(RegistryProvider(), name, props, opts)
