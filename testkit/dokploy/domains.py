"""Domains of the Dokploy v0.30.2 STAND-IN: ``domain.*``, ``overview.domains``, ``compose.getConvertedCompose``, and the
compose file a deploy runs, rewritten with Traefik labels the way Dokploy rewrites it.

Read from Dokploy's source (``apps/dokploy/server/api/routers/domain.ts``, ``packages/server/src/services/domain.ts``,
``db/schema/domain.ts``, ``db/validations/domain.ts``, ``utils/docker/domain.ts``, ``services/overview.ts``):

* rows: the ``domain`` table's columns and defaults (https false, port 3000, path "/", domainType "application",
  certificateType "none", internalPath "/", stripPath false, middlewares [], enabled true), ``uniqueConfigKey`` a
  serial that is never reused; ``host`` must be trimmed and a valid host name (zod refinements beyond the OpenAPI
  document); a ``composeId`` that does not exist violates the foreign key (400 with the database's message);
  ``compose.delete`` deletes the compose's domains (ON DELETE CASCADE).
* at deploy (``writeDomainsToCompose`` -> ``addDomainToCompose``): the compose file is parsed; for every domain of
  the compose the labels of its ``uniqueConfigKey`` are removed from every service; for every enabled domain its
  service gets ``traefik.enable=true``, the network label (``traefik.docker.network`` in compose mode on the
  service's ``labels``, ``traefik.swarm.network`` in stack mode on ``deploy.labels``) and the router labels of
  ``createDomainLabels`` (web, plus websecure when https), and joins ``dokploy-network`` and ``default``; the root
  declares ``dokploy-network`` external. A domain whose service is missing fails the deploy with Dokploy's message.
  The file is read and written back with npm yaml 2.8.1 as Dokploy does (``yamltext``), domains or not.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from testkit.dokploy import yamltext
from testkit.dokploy.handlers import ApiError, route
from testkit.dokploy.state import nanoid, now_iso
from testkit.dokploy.validation import ValidationFailed
from testkit.dokploy.yamltext import Yaml12Loader  # noqa: F401  (where it was: reads compose files as YAML 1.2)

if TYPE_CHECKING:
    from testkit.dokploy.server import FakeDokploy

VALID_HOSTNAME = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
INVALID_HOSTNAME = "Invalid domain name. Use only letters, numbers, hyphens and dots (e.g. example.com). Underscores are not allowed."
NETWORK = "dokploy-network"
COLUMNS = ("domainId", "host", "https", "port", "customEntrypoint", "path", "serviceName", "domainType", "uniqueConfigKey",
           "createdAt", "composeId", "customCertResolver", "applicationId", "previewDeploymentId", "certificateType",
           "internalPath", "stripPath", "middlewares", "forwardAuthEnabled", "enabled")
DEFAULTS: dict[str, Any] = {"https": False, "port": 3000, "customEntrypoint": None, "path": "/", "serviceName": None,
                            "domainType": "application", "composeId": None, "customCertResolver": None, "applicationId": None,
                            "previewDeploymentId": None, "certificateType": "none", "internalPath": "/", "stripPath": False,
                            "middlewares": [], "forwardAuthEnabled": False, "enabled": True}


class DomainError(Exception):
    """What ``addDomainToCompose`` throws (a deploy writes it to its log and fails)."""


def _check_host(inp: dict[str, Any]) -> None:
    """The zod refinements of ``host`` that the OpenAPI document cannot say: no surrounding spaces, a valid host name."""
    host = inp.get("host")
    if not isinstance(host, str):
        return
    if host != host.strip():
        raise ValidationFailed([{"code": "custom", "path": ["host"], "message": "Domain name cannot have leading or trailing spaces"}])
    if not VALID_HOSTNAME.match(host):
        raise ValidationFailed([{"code": "custom", "path": ["host"], "message": INVALID_HOSTNAME}])


def _domain(app: FakeDokploy, domain_id: str) -> dict[str, Any]:
    row = app.state.domains.get(domain_id)
    if row is None:
        raise ApiError("NOT_FOUND", "Domain not found")
    return row


@route("domain.create")
def domain_create(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    _check_host(inp)
    state = app.state
    with state.write():
        if inp.get("composeId") and inp["composeId"] not in state.composes:
            raise ApiError("BAD_REQUEST", 'insert or update on table "domain" violates foreign key constraint '
                                          '"domain_composeId_compose_composeId_fk"')
        if inp.get("applicationId"):  # the stand-in has no applications
            raise ApiError("BAD_REQUEST", 'insert or update on table "domain" violates foreign key constraint '
                                          '"domain_applicationId_application_applicationId_fk"')
        state.domain_seq += 1
        given = {k: copy.deepcopy(v) for k, v in inp.items() if k in COLUMNS}
        row = {k: given.get(k, copy.deepcopy(DEFAULTS.get(k))) for k in COLUMNS}
        row.update(domainId=nanoid(), host=inp["host"].strip(), uniqueConfigKey=state.domain_seq, createdAt=now_iso())
        state.domains[row["domainId"]] = row
        return copy.deepcopy(row)


@route("domain.byComposeId")
def domain_by_compose(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        compose = app.state.composes.get(inp["composeId"])
        owner = {"composeId": compose["composeId"], "appName": compose["appName"], "name": compose["name"]} if compose else None
        return [{**row, "compose": copy.deepcopy(owner)} for row in app.state.compose_domains(inp["composeId"])]


@route("domain.byApplicationId")
def domain_by_application(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    return []  # the stand-in has no applications


@route("domain.one")
def domain_one(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        return {**copy.deepcopy(_domain(app, inp["domainId"])), "application": None}


@route("domain.update")
def domain_update(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    _check_host(inp)
    with app.state.write():
        row = _domain(app, inp["domainId"])
        row.update({k: copy.deepcopy(v) for k, v in inp.items() if k in COLUMNS and k != "domainId"})
        row["host"] = str(row["host"]).strip()
        return copy.deepcopy(row)  # compose domains take effect at the next deploy (no Traefik file is written)


@route("domain.toggleEnable")
def domain_toggle(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.write():
        row = _domain(app, inp["domainId"])
        row["enabled"] = not row["enabled"]
        return {**copy.deepcopy(row), "requiresRedeploy": row["domainType"] == "compose"}


@route("domain.delete")
def domain_delete(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.write():
        _domain(app, inp["domainId"])
        return app.state.domains.pop(inp["domainId"])


@route("overview.domains")
def overview_domains(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    """getAllDomainsForOrganization: every domain with its owner (the stand-in has composes only)."""
    out = []
    with app.state.lock:
        for row in app.state.domains.values():
            compose = app.state.composes.get(row["composeId"] or "")
            env = app.state.environments.get(compose["environmentId"]) if compose else None
            project = app.state.projects.get(env["projectId"]) if env else None
            if compose is None:
                continue
            out.append({
                "domainId": row["domainId"], "host": row["host"], "path": row["path"], "port": row["port"],
                "customEntrypoint": row["customEntrypoint"], "https": row["https"], "certificateType": row["certificateType"],
                "createdAt": row["createdAt"], "enabled": row["enabled"], "domainType": row["domainType"],
                "serviceOwnerId": compose["composeId"], "serviceOwnerType": "compose", "serviceName": compose["name"],
                "projectId": project["projectId"] if project else "", "projectName": project["name"] if project else "",
                "environmentId": env["environmentId"] if env else "", "environmentName": env["name"] if env else "",
            })
    return out


@route("compose.getConvertedCompose")
def compose_converted(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        compose = app.state.composes.get(inp["composeId"])
        if compose is None:
            raise ApiError("NOT_FOUND", "Compose not found")
        compose = copy.deepcopy(compose)
        domains = app.state.compose_domains(compose["composeId"])
        on_disk = app.state.disk.get(compose["appName"])
    text = compose["composeFile"] if compose["sourceType"] == "raw" else on_disk
    try:
        return dump(add_domains(compose, domains, text))
    except DomainError as exc:
        raise ApiError("INTERNAL_SERVER_ERROR", str(exc)) from None


# -- the compose file a deploy runs ---------------------------------------------------------------


def dump(spec: Any) -> str:
    """``stringify(spec, {lineWidth: 1000})``, by npm yaml 2.8.1 itself where node is here (``yamltext``)."""
    return yamltext.stringify(spec)


def converted(compose: Mapping[str, Any], domains: list[dict[str, Any]]) -> str:
    """The compose file as a deploy writes it (writeDomainsToCompose); DomainError when Dokploy's deploy would fail."""
    spec = add_domains(compose, domains, compose.get("composeFile") or "")
    if spec is None:
        raise DomainError("Error: Compose file not found")
    return dump(spec)


def add_domains(compose: Mapping[str, Any], domains: list[dict[str, Any]], text: str | None) -> Any:
    """addDomainToCompose: the parsed compose file with every enabled domain's Traefik labels and networks."""
    if text is None:
        return None
    try:
        result = yamltext.parse(text)
    except yamltext.ParseError as exc:
        raise DomainError(str(exc)) from None
    if not isinstance(result, dict):
        return result
    app_name, stack = str(compose["appName"]), compose.get("composeType") == "stack"
    services = result.get("services") if isinstance(result.get("services"), dict) else {}
    for domain in domains:
        for service in services.values():
            if not isinstance(service, dict):
                continue
            owner = service if not stack else service.get("deploy")
            if isinstance(owner, dict) and "labels" in owner:  # JS assigns undefined back, which YAML leaves out
                owner["labels"] = _without_domain_labels(owner["labels"], app_name, domain["uniqueConfigKey"])
    for domain in (d for d in domains if d.get("enabled")):
        name = domain.get("serviceName")
        if not name:
            raise DomainError(f'Domain "{domain["host"]}" is missing a service name')
        if not isinstance(services.get(name), dict):
            raise DomainError(f'Domain "{domain["host"]}" is attached to service "{name}" which does not exist in the compose')
        router_labels = domain_labels(app_name, domain, domain.get("customEntrypoint") or "web")
        if not domain.get("customEntrypoint") and domain.get("https"):
            router_labels += domain_labels(app_name, domain, "websecure")
        service = services[name]
        if not stack:
            if service.get("labels") is None:
                service["labels"] = []
            labels = service["labels"]
        else:
            service.setdefault("deploy", {})
            if service["deploy"].get("labels") is None:
                service["deploy"]["labels"] = []
            labels = service["deploy"]["labels"]
        network_label = f"{'traefik.swarm.network' if stack else 'traefik.docker.network'}={NETWORK}"
        if isinstance(labels, list):
            if "traefik.enable=true" not in labels:
                labels.insert(0, "traefik.enable=true")
            labels[0:0] = router_labels
            if network_label not in labels:
                labels.insert(0, network_label)
        elif isinstance(labels, dict):
            labels["traefik.enable"] = "true"
            key, _, value = network_label.partition("=")
            labels[key] = value
            for label in router_labels:
                key, _, value = label.partition("=")
                labels[key] = value
        service["networks"] = _with_networks(service.get("networks"))
    if any(_uses(service, NETWORK) for service in services.values()):
        networks = result.get("networks") if isinstance(result.get("networks"), dict) else {}
        networks[NETWORK] = {"external": True}
        result["networks"] = networks
    return result


def domain_labels(app_name: str, domain: Mapping[str, Any], entrypoint: str) -> list[str]:
    """createDomainLabels: the router, service and middleware labels of one domain on one entrypoint."""
    key, host, path, https = domain["uniqueConfigKey"], domain["host"], domain.get("path"), bool(domain.get("https"))
    custom = domain.get("customEntrypoint")
    router = f"{app_name}-{key}-{entrypoint}"
    rule = f"Host(`{host}`)" + (f" && PathPrefix(`{path}`)" if path and path != "/" else "")
    labels = [
        f"traefik.http.routers.{router}.rule={rule}",
        f"traefik.http.routers.{router}.entrypoints={entrypoint}",
        f"traefik.http.services.{router}.loadbalancer.server.port={_js(domain.get('port'))}",
        f"traefik.http.routers.{router}.service={router}",
    ]
    middlewares: list[str] = []
    redirect_only = entrypoint == "web" and https and not custom
    if redirect_only:
        middlewares.append("redirect-to-https@file")
    if domain.get("stripPath") and path and path != "/":
        name = f"stripprefix-{app_name}-{key}"
        if entrypoint == "web" or custom:
            labels.append(f"traefik.http.middlewares.{name}.stripprefix.prefixes={path}")
        if not redirect_only:
            middlewares.append(name)
    internal = domain.get("internalPath")
    if internal and internal != "/" and str(internal).startswith("/"):
        name = f"addprefix-{app_name}-{key}"
        if entrypoint == "web" or custom:
            labels.append(f"traefik.http.middlewares.{name}.addprefix.prefix={internal}")
        if not redirect_only:
            middlewares.append(name)
    if not redirect_only and domain.get("middlewares"):
        middlewares += list(domain["middlewares"])
    if middlewares:
        labels.append(f"traefik.http.routers.{router}.middlewares={','.join(middlewares)}")
    if entrypoint == "websecure" or (custom and https):
        certificate = domain.get("certificateType")
        if certificate == "letsencrypt":
            labels.append(f"traefik.http.routers.{router}.tls.certresolver=letsencrypt")
        elif certificate == "custom" and domain.get("customCertResolver"):
            labels.append(f"traefik.http.routers.{router}.tls.certresolver={domain['customCertResolver']}")
        elif certificate == "none" and https:
            labels.append(f"traefik.http.routers.{router}.tls=true")
    return labels


def _js(value: Any) -> str:
    """A value in a JS template literal (``${port}``): null -> "null", 8080 -> "8080"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _without_domain_labels(labels: Any, app_name: str, key: int) -> Any:
    """removeDomainLabels: a service's labels without those of one domain (its uniqueConfigKey)."""
    prefixes = (f"traefik.http.routers.{app_name}-{key}-", f"traefik.http.services.{app_name}-{key}-",
                f"traefik.http.middlewares.stripprefix-{app_name}-{key}.", f"traefik.http.middlewares.addprefix-{app_name}-{key}.")
    if isinstance(labels, list):
        return [label for label in labels if not str(label).startswith(prefixes)]
    if isinstance(labels, dict):
        return {k: v for k, v in labels.items() if not str(k).startswith(prefixes)}
    return labels


def _with_networks(networks: Any) -> Any:
    """addDokployNetworkToService: dokploy-network and default, in the list or mapping form the service uses."""
    if not networks:
        networks = []
    if isinstance(networks, list):
        for name in (NETWORK, "default"):
            if name not in networks:
                networks.append(name)
    elif isinstance(networks, dict):
        for name in (NETWORK, "default"):
            if name not in networks:
                networks[name] = {}
    return networks


def _uses(service: Any, network: str) -> bool:
    nets = service.get("networks") if isinstance(service, dict) else None
    return network in nets if isinstance(nets, list | dict) else False
