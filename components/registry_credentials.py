"""DokployRegistry: the registry credentials Dokploy logs in with before it pulls (``registry.*``).

Compose deploys do no ``docker login`` of their own: they use the Docker config of the machine that
runs them. ``registry.create`` and ``registry.update`` run ``docker login`` on Dokploy's host, or with
``serverId`` on that server (one server per call; the row itself has no server). So the resource
logs in on every machine that pulls: Dokploy's host when a compose project runs there (``on_host``)
and each remote server one runs on (``servers``, name -> id): the first in ``registry.create``, each
other with one ``registry.update``. A machine added later gets its own ``registry.update``; new
credentials are sent to every machine.

Ownership (as DokployProject): an entry of the same name that exists already (another stack's ``ghcr``,
or one made by hand) is adopted for its logins but never deleted: ``created`` says whether this stack
made it, and only then does ``pulumi destroy`` remove it (``registry.remove`` also runs ``docker logout``
on Dokploy's host, which would break the other stack's pulls). A state written before ``created``
existed cannot tell, and deletes it as it always did.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.compose_project_inputs import sha256_text
from components.provider_support import (
    DokployProviderBase,
    connection_props,
    engine_warning,
    guard,
    is_unknown,
    norm_url,
    props_of,
    read_result,
    same,
)
from dokploy_api import DokployConfigError, check_base_url
from dokploy_api.lookup import at_most_one

REGISTRY_INPUTS = (
    "dokploy_url", "api_key", "registry_name", "registry_url", "username", "password", "allow_insecure_http", "servers", "on_host"
)
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
    servers: Input[Mapping[str, str]] | None = None
    """The remote Dokploy servers that pull (name -> id, as the program resolved them; {}: none)."""
    on_host: bool = True
    """Whether Dokploy's own host pulls (a compose project runs there)."""


@dataclass
class RegistryProvider(DokployProviderBase, ResourceProvider):
    """Dynamic provider behind DokployRegistry: registry.create / update / remove; adopts one of the same name."""

    def _redactions(self, props: Mapping[str, Any]) -> list[str]:
        return [v for v in (props.get("password"),) if isinstance(v, str)]

    @staticmethod
    def _outputs(p: Mapping[str, Any], registry_id: str, created: bool | None = None) -> dict[str, Any]:
        return {
            "registry_id": registry_id,
            "created": created,
            "dokploy_url": p.get("dokploy_url"),
            "registry_name": p.get("registry_name"),
            "registry_url": p.get("registry_url"),
            "username": p.get("username"),
            "allow_insecure_http": bool(p.get("allow_insecure_http")),
            "password_sha256": sha256_text(p.get("password")),
            "servers": dict(_servers(p)),
            "on_host": _on_host(p),
        }

    @staticmethod
    def _targets(p: Mapping[str, Any], only: set[str] | None = None) -> list[str | None]:
        """Where to log in: None for Dokploy's host, then each server's id (by name); ``only``: those names ("" = the host)."""
        targets: list[str | None] = []
        if _on_host(p) and (only is None or "" in only):
            targets.append(None)
        for name, server_id in sorted(_servers(p).items()):
            if only is not None and name not in only:
                continue
            if not server_id:
                raise DokployConfigError(
                    f"registry {p.get('registry_name')}: server {name!r} was not resolved to a Dokploy server id "
                    "(the program resolves it with server.all before anything changes; run `pulumi up` with the API key)"
                )
            targets.append(server_id)
        return targets

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
        servers = p.get("servers")
        if "servers" in p and not is_unknown(servers) and (
            servers is not None and (not isinstance(servers, Mapping) or not all(isinstance(v, str) for v in servers.values()))
        ):
            failures.append(CheckFailure("servers", "servers: should map each Dokploy server name to its id"))
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
        moved = any(v and _servers(old).get(k) != v for k, v in _servers(new).items())  # the same name, another server
        if is_unknown(new.get("servers")) or sorted(_servers(old)) != sorted(_servers(new)) or moved:
            changed.append("servers")
        if _on_host(old) != _on_host(new):
            changed.append("on_host")
        if is_unknown(new.get("dokploy_url")):
            changed.append("dokploy_url")
        return DiffResult(changes=bool(replaces or changed), replaces=replaces, stables=[], delete_before_replace=bool(replaces))

    @guard(_secrets)
    def create(self, props: dict[str, Any]) -> CreateResult:
        p = props_of(props)
        targets = self._targets(p) or [None]
        with self._client(p, "create") as client:
            same_name = [r for r in client.registry.all() if isinstance(r, dict) and r.get("registryName") == p["registry_name"]]
            found = at_most_one(
                same_name, "registryId", "registry.all", f"registries are named {p['registry_name']!r}", "; remove all but one"
            )
            created = found is None
            if found is not None:
                registry_id = found["registryId"]
                rest = targets
            else:
                registry_id = client.registry.create(
                    p["registry_name"],
                    p["registry_url"],
                    p["username"],
                    p["password"],
                    registry_type="cloud",
                    image_prefix=None,
                    server_id=targets[0],
                )["registryId"]
                rest = targets[1:]
            self._login(client, registry_id, p, rest)
        return CreateResult(registry_id, self._outputs(p, registry_id, created))

    def _login(self, client: Any, registry_id: str, p: Mapping[str, Any], targets: list[str | None]) -> None:
        """One ``registry.update`` per machine: Dokploy runs ``docker login`` there (None: its own host)."""
        for target in targets:
            extra = {"server_id": target} if target else {}
            client.registry.update(registry_id, **self._fields(p), **extra)

    @guard(_secrets)
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = props_of(olds), props_of(news)
        outs = self._outputs(new, _id, old.get("created"))
        credentials_same = all(same(old.get(k), outs[k]) for k in ("registry_name", "registry_url", "username", "password_sha256"))
        had = ({""} if _on_host(old) else set()) | {n for n, i in _servers(old).items() if _servers(new).get(n) == i}
        wanted = ({""} if _on_host(new) else set()) | set(_servers(new))
        new_places = wanted - had
        if credentials_same and not new_places:
            return UpdateResult(outs)
        targets = self._targets(new, None if not credentials_same else new_places)
        with self._client(new, "update") as client:
            self._login(client, _id, new, targets)
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
        p = props_of(props)
        if p.get("created") is False:
            engine_warning(f"Dokploy registry entry {p.get('registry_name')!r} ({id_}) was kept: another stack or a person made it")
            return
        self._delete(p, lambda client: client.registry.remove(id_))


def _servers(p: Mapping[str, Any]) -> dict[str, str]:
    servers = p.get("servers")
    return {str(k): str(v or "") for k, v in servers.items()} if isinstance(servers, Mapping) else {}


def _on_host(p: Mapping[str, Any]) -> bool:
    """A state written before servers existed logged in on Dokploy's host."""
    return p.get("on_host") is not False


class DokployRegistry(Resource, module="dokploy", name="Registry"):
    """Registry credentials in Dokploy (it runs `docker login` with them on its host)."""

    registry_id: Output[str]
    """Dokploy registry id (also the resource id)."""
    password_sha256: Output[str]
    """Secret hash of the password, to notice a rotation."""
    created: Output[bool]
    """Whether this stack created the entry (only then does destroy remove it)."""

    def __init__(self, name: str, args: RegistryArgs, opts: ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            **connection_props(args.dokploy_url, args.allow_insecure_http),
            "registry_name": args.registry_name,
            "registry_url": args.registry_url,
            "username": args.username,
            "password": Output.secret(args.password),
            "servers": args.servers or {},
            "on_host": bool(args.on_host),
            "registry_id": None,
            "password_sha256": None,
            "created": None,
        }
        opts = ResourceOptions.merge(ResourceOptions(additional_secret_outputs=list(REGISTRY_SECRET_OUTPUTS)), opts)
        super().__init__(RegistryProvider(), name, props, opts)
