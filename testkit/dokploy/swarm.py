"""Stack mode and servers of the Dokploy v0.30.2 STAND-IN: ``swarm.*``, ``docker.get*ContainersByAppName``, ``server.*``.

The swarm/docker queries run the commands Dokploy runs (``packages/server/src/services/docker.ts``)
on the local engine and parse their output the same way, so the rows are what Dokploy returns:
``swarm.getNodeApps`` is ``docker service ls --format '{{json .}}'`` without ``dokploy-*`` services,
the task queries are ``docker stack ps`` / ``docker service ps`` split on ``" | "``. Failures
answer as Dokploy's catch blocks do (``[]``, or an empty body where Dokploy returns undefined).

Servers: rows shaped like Dokploy's ``server`` table, but no SSH anywhere: **every server is the
local Docker Engine**. What differs per server is its docker config directory (its
``/root/.docker``: ``registry.create {serverId}`` logs in there, deploys of its composes use it)
and what the queries show: a service or stack belongs to the server of the compose whose
``appName`` it carries (``<appName>`` or ``<appName>_<service>``), anything else to the Dokploy
host (no ``serverId``). ``swarm.getNodes`` shows the one local node for every server.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from testkit.dokploy.handlers import UNDEFINED, ApiError, route
from testkit.dokploy.state import build_app_name, nanoid, now_iso

if TYPE_CHECKING:
    from testkit.dokploy.server import FakeDokploy

_TASK_FORMAT = ("CONTAINER ID : {{.ID}} | Name: {{.Name}} | State: {{.DesiredState}} | Node: {{.Node}} | "
                "CurrentState: {{.CurrentState}} | Error: {{.Error}}")
_METRICS_DEFAULT: dict[str, Any] = {
    "server": {"type": "Remote", "refreshRate": 60, "port": 4500, "token": "", "urlCallback": "", "cronJob": "",
               "retentionDays": 2, "thresholds": {"cpu": 0, "memory": 0}},
    "containers": {"refreshRate": 60, "services": {"include": [], "exclude": []}},
}


# -- servers ------------------------------------------------------------------------------------


def server_row(app: FakeDokploy, name: str, description: str | None = None, ip_address: str = "127.0.0.1", port: int = 22,
               username: str = "root", ssh_key_id: str | None = None, server_type: str = "deploy",
               enable_docker_cleanup: bool = True) -> dict[str, Any]:
    """A new `server` row, columns in Dokploy's order (appName: generateAppName("server"))."""
    return {
        "serverId": nanoid(), "name": name, "description": description, "ipAddress": ip_address, "port": port,
        "username": username, "appName": "server" + build_app_name(None).removeprefix("compose"),
        "enableDockerCleanup": enable_docker_cleanup, "buildsConcurrency": 1, "createdAt": now_iso(),
        "organizationId": app.state.organization_id, "serverStatus": "active", "serverType": server_type, "command": "",
        "sshKeyId": ssh_key_id, "metricsConfig": copy.deepcopy(_METRICS_DEFAULT),
    }


def ensure_servers(app: FakeDokploy, names: Iterable[str]) -> None:
    """Create a server for every name that has none yet (FakeDokploy(servers=...), --server)."""
    with app.state.write():
        existing = {row["name"] for row in app.state.servers.values()}
        for name in names:
            if name not in existing:
                row = server_row(app, name, "Dokploy stand-in server: runs on the local Docker Engine")
                app.state.servers[row["serverId"]] = row
                existing.add(name)


def _server(app: FakeDokploy, server_id: str) -> dict[str, Any]:
    row = app.state.servers.get(server_id)
    if row is None:
        raise ApiError("NOT_FOUND", "Server not found")
    return row


@route("server.create")
def server_create(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    if inp["sshKeyId"] is not None:  # the stand-in has no SSH keys: the insert's foreign key fails, rethrown as below
        raise ApiError("BAD_REQUEST", "Error creating the server")
    with app.state.write():
        row = server_row(app, inp["name"], inp["description"], inp["ipAddress"], int(inp["port"]), inp["username"], None,
                         inp["serverType"], inp["enableDockerCleanup"])
        app.state.servers[row["serverId"]] = row
        return copy.deepcopy(row)


@route("server.one")
def server_one(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        return {**copy.deepcopy(_server(app, inp["serverId"])), "deployments": [], "sshKey": None}


@route("server.all")
def server_all(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        composes = [c["serverId"] for c in app.state.composes.values()]
        return [{**copy.deepcopy(row), "totalSum": composes.count(row["serverId"])}  # orderBy desc(createdAt)
                for row in reversed(app.state.servers.values())]


# -- swarm and docker queries -------------------------------------------------------------------


def _owner(app: FakeDokploy, name: str) -> str:
    """serverId ("" = the Dokploy host) of the compose a stack or service name belongs to."""
    with app.state.lock:
        for compose in app.state.composes.values():
            if name == compose["appName"] or name.startswith(compose["appName"] + "_"):
                return compose["serverId"] or ""
    return ""


def _where(app: FakeDokploy, inp: dict[str, Any]) -> str:
    """The server a query runs on ("" = the Dokploy host); unknown serverId -> 404 (findServerById)."""
    server_id = inp.get("serverId") or ""
    if server_id:
        with app.state.lock:
            _server(app, server_id)
    return server_id


def _docker(app: FakeDokploy, args: list[str]) -> tuple[int, str, str]:
    """Run a docker query (exit code, stdout, stderr); without docker the engine is no Swarm manager."""
    runner = app.docker_runner
    if runner is None:
        return 1, "", "Error response from daemon: This node is not a swarm manager."
    try:
        done = subprocess.run(args, env=runner.env(), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, "", str(exc)
    return done.returncode, done.stdout, done.stderr


def _part(parts: list[str], i: int, label: str, default: str = "") -> str:
    """`parts[i] ? parts[i].replace(label, "").trim() : default` of Dokploy's parsers."""
    return parts[i].replace(label, "", 1).strip() if i < len(parts) and parts[i] else default


def _tasks(app: FakeDokploy, command: str, name: str, stack: bool) -> list[dict[str, Any]]:
    """getStackContainersByAppName / getServiceContainersByAppName: every task, old ones included."""
    code, out, err = _docker(app, ["docker", command, "ps", name, "--no-trunc", "--format", _TASK_FORMAT])
    if code != 0 or err or not out:
        return []
    rows = []
    for line in out.strip().split("\n"):
        parts = line.split(" | ")
        row = {"containerId": _part(parts, 0, "CONTAINER ID : ", "No container id"),
               "name": _part(parts, 1, "Name: ", "No container name"),
               "state": _part(parts, 2, "State: ").lower() if len(parts) > 2 and parts[2] else "No state",
               "node": _part(parts, 3, "Node: ", "No specific node"),
               "currentState": _part(parts, 4, "CurrentState: "),
               "error": _part(parts, 5, "Error: ")}
        if not stack:  # getServiceContainersByAppName lists currentState before node
            row = {k: row[k] for k in ("containerId", "name", "state", "currentState", "node", "error")}
        rows.append(row)
    return rows


@route("docker.getStackContainersByAppName")
def docker_stack_containers(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    if _owner(app, inp["appName"]) != _where(app, inp):
        return []  # that stack is on another server
    return _tasks(app, "stack", inp["appName"], stack=True)


@route("docker.getServiceContainersByAppName")
def docker_service_containers(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    if _owner(app, inp["appName"]) != _where(app, inp):
        return []
    return _tasks(app, "service", inp["appName"], stack=False)


@route("swarm.getNodeApps")
def swarm_node_apps(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    where = _where(app, inp)
    if app.docker_runner is None:  # the simulation: the services of the simulated stacks ([] when none was deployed)
        return [row for row in app.containers.services() if _owner(app, row["Name"]) == where]
    code, out, err = _docker(app, ["docker", "service", "ls", "--format", "{{json .}}"])
    if code != 0:
        return []
    if err:
        return UNDEFINED
    rows = [json.loads(line) for line in out.strip().split("\n") if line.strip()]
    return [row for row in rows if not row["Name"].startswith("dokploy-") and _owner(app, row["Name"]) == where]


@route("swarm.getNodes")
def swarm_nodes(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    _where(app, inp)
    code, out, err = _docker(app, ["docker", "node", "ls", "--format", "{{json .}}"])
    if code != 0 or err:
        return UNDEFINED  # getSwarmNodes logs the error and returns undefined
    return [json.loads(line) for line in out.strip().split("\n")]
