"""Procedures of the Dokploy v0.30.2 STAND-IN, keyed by tRPC procedure name ("compose.create").

Each handler gets the app and the already validated/coerced input and returns the value the
real procedure returns (``UNDEFINED`` for an empty body) or raises ``ApiError`` with the tRPC
code and message Dokploy uses. Semantics follow shared/dokploy/API.md sections 4-7.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import yaml

from testkit.dokploy.dockerops import default_command
from testkit.dokploy.faults import DATABASE_ERROR
from testkit.dokploy.state import build_app_name, compose_row, nanoid, now_iso
from testkit.dokploy.validation import ValidationFailed

if TYPE_CHECKING:
    from testkit.dokploy.server import FakeDokploy

DOKPLOY_VERSION = "v0.30.2"


class ApiError(Exception):
    """A TRPCError: `code` is the tRPC code string (NOT_FOUND, BAD_REQUEST, ...)."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()  # the procedure returned undefined: 200 with an empty body

Handler = Callable[["FakeDokploy", dict[str, Any]], Any]
HANDLERS: dict[str, Handler] = {}


def route(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


def _compose(app: FakeDokploy, compose_id: str) -> dict[str, Any]:
    compose = app.state.composes.get(compose_id)
    if compose is None:
        raise ApiError("NOT_FOUND", "Compose not found")
    return compose


def _command_failed(args: str, output: str) -> ApiError:
    return ApiError("INTERNAL_SERVER_ERROR", f"Command failed: {args}\n{output}".rstrip())


# -- project ------------------------------------------------------------------------------------


@route("project.create")
def project_create(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    state = app.state
    with state.write():
        project = {"projectId": nanoid(), "name": inp["name"], "description": inp.get("description"), "createdAt": now_iso(),
                   "organizationId": state.organization_id, "env": inp.get("env", "")}
        state.projects[project["projectId"]] = project
        env = {"environmentId": nanoid(), "name": "production", "description": "Production environment", "createdAt": now_iso(),
               "env": "", "projectId": project["projectId"], "isDefault": True}
        state.environments[env["environmentId"]] = env
        return {"project": copy.deepcopy(project), "environment": copy.deepcopy(env)}


@route("project.all")
def project_all(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        return app.state.project_all()


@route("project.one")
def project_one(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        if inp["projectId"] not in app.state.projects:
            raise ApiError("NOT_FOUND", "Project not found")
        return app.state.project_one(inp["projectId"])


@route("project.update")
def project_update(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.write():
        project = app.state.projects.get(inp["projectId"])
        if project is None:
            raise ApiError("NOT_FOUND", "Project not found")
        for key in ("name", "description", "env", "createdAt", "organizationId"):
            if key in inp:
                project[key] = inp[key]
        return copy.deepcopy(project)


@route("project.remove")
def project_remove(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.write():
        if inp["projectId"] not in app.state.projects:
            raise ApiError("NOT_FOUND", "Project not found")
        row = app.state.project_row(inp["projectId"])
        app.state.delete_project_cascade(inp["projectId"])  # DB cascade only: containers keep running
        return row


# -- environment --------------------------------------------------------------------------------


@route("environment.create")
def environment_create(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    if inp["name"] == "production":
        raise ApiError("BAD_REQUEST", "You cannot create a environment with the name 'production'")
    with app.state.write():
        if inp["projectId"] not in app.state.projects:
            raise ApiError("BAD_REQUEST", 'Error creating the environment: insert or update on table "environment" violates foreign key '
                                          'constraint "environment_projectId_project_projectId_fk"')
        env = {"environmentId": nanoid(), "name": inp["name"], "description": inp.get("description"), "createdAt": now_iso(),
               "env": "", "projectId": inp["projectId"], "isDefault": False}
        app.state.environments[env["environmentId"]] = env
        return copy.deepcopy(env)


@route("environment.one")
def environment_one(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        if inp["environmentId"] not in app.state.environments:
            raise ApiError("NOT_FOUND", "Environment not found")
        return app.state.environment_one(inp["environmentId"])


@route("environment.byProjectId")
def environment_by_project(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        return app.state.environments_by_project(inp["projectId"])


@route("environment.update")
def environment_update(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.write():
        env = app.state.environments.get(inp["environmentId"])
        if env is None:
            raise ApiError("BAD_REQUEST", "Error updating the environment: Environment not found")
        if env["isDefault"] and "name" in inp:
            raise ApiError("BAD_REQUEST", "Error updating the environment: You cannot rename the default environment")
        for key in ("name", "description", "projectId", "env"):
            if key in inp:
                env[key] = inp[key]
        return copy.deepcopy(env)


@route("environment.remove")
def environment_remove(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    state = app.state
    with state.write():
        env = state.environments.get(inp["environmentId"])
        if env is None:
            raise ApiError("NOT_FOUND", "Environment not found")
        if env["isDefault"]:
            raise ApiError("BAD_REQUEST", "You cannot delete the default environment")
        if any(c["environmentId"] == env["environmentId"] for c in state.composes.values()):
            raise ApiError("BAD_REQUEST", "Cannot delete environment: it has active services. Delete all services first.")
        return copy.deepcopy(state.environments.pop(env["environmentId"]))


# -- compose ------------------------------------------------------------------------------------


@route("compose.create")
def compose_create(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    state = app.state
    with state.write():
        if inp["environmentId"] not in state.environments:
            raise ApiError("NOT_FOUND", "Environment not found")
        if inp.get("serverId") and inp["serverId"] not in state.servers:  # getAccessibleServerIds: the org's servers
            raise ApiError("UNAUTHORIZED", "You are not authorized to access this server")
        row = compose_row(nanoid(), inp["name"], build_app_name(inp.get("appName")), inp["environmentId"])
        for key in ("description", "composeType", "sourceType", "serverId"):
            if key in inp:
                row[key] = inp[key]
        row["composeFile"] = inp.get("composeFile") or ""
        state.composes[row["composeId"]] = row
        return copy.deepcopy(row)


@route("compose.one")
def compose_one(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        _compose(app, inp["composeId"])
        return {**app.state.compose_full(inp["composeId"]), "hasGitProviderAccess": True, "unauthorizedProvider": None}


@route("compose.update")
def compose_update(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    state = app.state
    with state.write():
        compose = state.composes.get(inp["composeId"])
        if compose is None:
            return UNDEFINED  # the UPDATE matched no row
        changes = {k: v for k, v in inp.items() if k not in ("appName", "composeId")}  # appName is silently ignored
        if "environmentId" in changes and changes["environmentId"] not in state.environments:
            raise ApiError("INTERNAL_SERVER_ERROR", 'insert or update on table "compose" violates foreign key constraint '
                                                    '"compose_environmentId_environment_environmentId_fk"')
        compose.update(changes)
        return copy.deepcopy(compose)


@route("compose.saveEnvironment")
def compose_save_environment(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.write():
        compose = app.state.composes.get(inp["composeId"])
        if compose is None:
            raise ApiError("BAD_REQUEST", "Error adding environment variables")
        compose["env"] = inp["env"]
        if "createEnvFile" in inp:
            compose["createEnvFile"] = inp["createEnvFile"]
        return True


def _enqueue(app: FakeDokploy, inp: dict[str, Any], kind: str) -> Any:
    with app.state.write():
        compose = _compose(app, inp["composeId"])
        default_title = "Manual deployment" if kind == "deploy" else "Rebuild deployment"
        outcome = app.faults.outcome_for(compose["name"])
        app.queue.add(compose["composeId"], kind, inp.get("title") or default_title, inp.get("description") or "", outcome)
        message = "Deployment queued" if kind == "deploy" else "Redeployment queued"
        return {"success": True, "message": message, "composeId": compose["composeId"]}


@route("compose.deploy")
def compose_deploy(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    return _enqueue(app, inp, "deploy")


@route("compose.redeploy")
def compose_redeploy(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    return _enqueue(app, inp, "redeploy")


@route("compose.stop")
def compose_stop(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        compose = copy.deepcopy(_compose(app, inp["composeId"]))
    runner = app.docker_runner
    if runner is not None:
        app_name = compose["appName"]
        if compose["composeType"] == "stack":
            code, out = runner.run(["docker", "stack", "rm", app_name])
            args = f"docker stack rm {app_name}"
        else:
            code, out = runner.compose_stop(app_name)
            args = f"docker compose -p {app_name} stop"
        if code != 0:
            _set_status(app, compose["composeId"], "error")
            raise _command_failed(args, out)
    else:
        app.containers.stop(compose["appName"], stack=compose["composeType"] == "stack")
    _set_status(app, compose["composeId"], "idle")
    return True


@route("compose.start")
def compose_start(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        compose = copy.deepcopy(_compose(app, inp["composeId"]))
    runner = app.docker_runner
    if runner is not None and compose["composeType"] == "docker-compose":
        path = "docker-compose.yml" if compose["sourceType"] == "raw" else compose["composePath"]
        code, out = runner.compose_start(compose["appName"], path)
        if code != 0:
            _set_status(app, compose["composeId"], "idle")
            raise _command_failed(f"docker compose -p {compose['appName']} -f {path} up -d", out)
    if runner is None and compose["composeType"] == "docker-compose":
        app.containers.start(compose["appName"])
    _set_status(app, compose["composeId"], "done")
    return True


def _set_status(app: FakeDokploy, compose_id: str, status: str) -> None:
    with app.state.write():
        compose = app.state.composes.get(compose_id)
        if compose is not None:
            compose["composeStatus"] = status


@route("compose.delete")
def compose_delete(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    state = app.state
    with state.write():
        _compose(app, inp["composeId"])
        result = state.compose_full(inp["composeId"])
        state.delete_compose_cascade(inp["composeId"])
        state.disk.pop(result["appName"], None)
        app.queue.remove_waiting(inp["composeId"])
    runner = app.docker_runner
    if runner is not None:  # cleanup errors are swallowed, like Dokploy
        if result["composeType"] == "stack":
            runner.run(["docker", "stack", "rm", result["appName"]])
        else:
            runner.compose_down(result["appName"], bool(inp.get("deleteVolumes")))
        runner.remove_files(result["appName"])
    app.containers.remove(result["appName"])
    return result


@route("compose.loadServices")
def compose_load_services(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    state = app.state
    with state.write():
        compose = _compose(app, inp["composeId"])
        app_name = compose["appName"]
        if inp.get("type") == "fetch" and compose["sourceType"] == "raw":
            state.disk[app_name] = compose["composeFile"]
            if app.docker_runner is not None:
                code_dir = app.docker_runner.code_dir(app_name)
                code_dir.mkdir(parents=True, exist_ok=True)
                (code_dir / "docker-compose.yml").write_text(compose["composeFile"], encoding="utf-8")
        text = state.disk.get(app_name)
        randomize, suffix = compose["randomize"], compose["suffix"]
    data = yaml.safe_load(text) if text else None
    services = data.get("services") if isinstance(data, dict) else None
    if not services or not isinstance(services, dict):
        raise ApiError("NOT_FOUND", "Services not found")
    return [f"{name}-{suffix}" if randomize and suffix else str(name) for name in services]


@route("compose.cleanQueues")
def compose_clean_queues(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    app.queue.remove_waiting(inp["composeId"])
    return {"success": True, "message": "Queues cleaned successfully"}


@route("compose.cancelDeployment")
def compose_cancel_deployment(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    raise ApiError("BAD_REQUEST", "Deployment cancellation only available in cloud version")


@route("compose.killBuild")
def compose_kill_build(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        _compose(app, inp["composeId"])
    return UNDEFINED


@route("compose.move")
def compose_move(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.write():
        compose = _compose(app, inp["composeId"])
        if inp["targetEnvironmentId"] not in app.state.environments:
            raise ApiError("NOT_FOUND", "Environment not found")
        compose["environmentId"] = inp["targetEnvironmentId"]
        return copy.deepcopy(compose)


@route("compose.fetchSourceType")
def compose_fetch_source_type(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    """Clones the source; for raw that means writing the compose file. Returns the sourceType."""
    with app.state.write():
        compose = _compose(app, inp["composeId"])
        if compose["sourceType"] != "raw":
            raise ApiError("BAD_REQUEST", "Error fetching source type")
        app.state.disk[compose["appName"]] = compose["composeFile"]
        return compose["sourceType"]


@route("compose.getDefaultCommand")
def compose_default_command(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        return f"docker {default_command(_compose(app, inp['composeId']))}"


@route("compose.refreshToken")
def compose_refresh_token(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.write():
        _compose(app, inp["composeId"])["refreshToken"] = nanoid()
        return True


# -- deployment ---------------------------------------------------------------------------------


@route("deployment.allByCompose")
def deployment_all_by_compose(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    return app.state.deployments_for(inp["composeId"])


@route("deployment.allByType")
def deployment_all_by_type(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    if inp["type"] != "compose":
        return []
    return [{**row, "rollback": None} for row in app.state.deployments_for(inp["id"])]


@route("deployment.readLogs")
def deployment_read_logs(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        if inp["deploymentId"] not in app.state.deployments:
            raise ApiError("NOT_FOUND", "Deployment not found")
        text = app.state.logs.get(inp["deploymentId"], "")
    lines = text.splitlines()
    tail = lines[-int(inp.get("tail", 100)) :]
    return "\n".join(tail) + ("\n" if tail and text.endswith("\n") else "")


@route("deployment.queueList")
def deployment_queue_list(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    rows = []
    jobs = app.queue.jobs()
    with app.state.lock:
        for job in jobs:
            row: dict[str, Any] = {"id": job.id, "name": "deployments", "data": job.data(), "timestamp": job.timestamp}
            if job.processed_on is not None:
                row["processedOn"] = job.processed_on
            row["state"] = job.state
            compose = app.state.composes.get(job.compose_id)
            env = app.state.environments.get(compose["environmentId"]) if compose else None
            href = None
            if compose and env:
                href = f"/dashboard/project/{env['projectId']}/environment/{env['environmentId']}/services/compose/{compose['composeId']}"
            row["servicePath"] = {"href": href, "label": "Compose" if compose else "—"}
            rows.append(row)
    return rows


@route("deployment.killProcess")
def deployment_kill_process(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        row = app.state.deployments.get(inp["deploymentId"])
        if row is None:
            raise ApiError("NOT_FOUND", "Deployment not found")
        if not row["pid"]:
            raise ApiError("BAD_REQUEST", "Deployment is not running")
    return UNDEFINED


@route("deployment.removeDeployment")
def deployment_remove(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.write():
        row = app.state.deployments.pop(inp["deploymentId"], None)
        if row is None:
            raise ApiError("NOT_FOUND", "Deployment not found")
        app.state.logs.pop(inp["deploymentId"], None)
        return row


# -- registry -----------------------------------------------------------------------------------

_REGISTRY_URL = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
_REGISTRY_FIELDS = ("registryName", "imagePrefix", "username", "password", "registryUrl", "createdAt", "registryType", "organizationId")


def _check_registry_url(url: str) -> None:
    if url and not _REGISTRY_URL.fullmatch(url):
        raise ValidationFailed([{"code": "custom", "path": ["registryUrl"],
                                 "message": "Invalid registry URL: use host[:port] without scheme or path, or leave it empty"}])


def _login(app: FakeDokploy, url: str, username: str, password: str, server_id: str | None = None) -> str:
    """docker login on the Dokploy host or (serverId) on that server; returns where ("" = the host)."""
    where = server_id if server_id and server_id != "none" else ""
    if where and where not in app.state.servers:
        raise ApiError("BAD_REQUEST", "Server not found")  # execAsyncRemote -> findServerById, wrapped
    if app.docker_runner is not None:
        code, out = app.docker_runner.login(url, username, password, app.docker_runner.config_for(where))
        if code != 0:
            raise ApiError("BAD_REQUEST", out.strip() or "docker login failed")
    return where


def _record_login(app: FakeDokploy, registry_id: str, server_id: str) -> None:
    logins = app.state.registry_logins.setdefault(registry_id, [])
    if server_id not in logins:
        logins.append(server_id)


@route("registry.create")
def registry_create(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    _check_registry_url(inp["registryUrl"])
    username = inp["username"].strip()
    where = _login(app, inp["registryUrl"], username, inp["password"], inp.get("serverId"))  # failure: 400, row not kept
    with app.state.write():
        row = {"registryId": nanoid(), "registryName": inp["registryName"], "imagePrefix": inp["imagePrefix"], "username": username,
               "password": inp["password"], "registryUrl": inp["registryUrl"], "createdAt": now_iso(),
               "registryType": inp["registryType"], "organizationId": app.state.organization_id}
        app.state.registries[row["registryId"]] = row
        _record_login(app, row["registryId"], where)
        return copy.deepcopy(row)


@route("registry.all")
def registry_all(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        return copy.deepcopy(list(app.state.registries.values()))


@route("registry.one")
def registry_one(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        row = app.state.registries.get(inp["registryId"])
        if row is None:
            raise ApiError("NOT_FOUND", "Registry not found")
        return {k: copy.deepcopy(v) for k, v in row.items() if k != "password"}


@route("registry.update")
def registry_update(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.lock:
        current = app.state.registries.get(inp["registryId"])
        if current is None:
            raise ApiError("NOT_FOUND", "Registry not found")
        merged = {**current, **{k: inp[k] for k in _REGISTRY_FIELDS if k in inp}}
    if "registryUrl" in inp:
        _check_registry_url(inp["registryUrl"])
    where = _login(app, merged["registryUrl"], merged["username"], merged["password"], inp.get("serverId"))
    with app.state.write():
        row = app.state.registries.get(inp["registryId"])
        if row is None:
            raise ApiError("BAD_REQUEST", "Update: Error to update registry")
        row.update({k: merged[k] for k in _REGISTRY_FIELDS})
        _record_login(app, row["registryId"], where)
    return True


@route("registry.remove")
def registry_remove(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    with app.state.write():
        row = app.state.registries.pop(inp["registryId"], None)
        if row is None:
            raise ApiError("BAD_REQUEST", "Error removing this registry")
        app.state.registry_logins.pop(inp["registryId"], None)
    if app.docker_runner is not None:
        app.docker_runner.logout(row["registryUrl"])
    return row


@route("registry.testRegistry")
def registry_test(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    _login(app, inp.get("registryUrl", ""), (inp.get("username") or "").strip(), inp.get("password") or "", inp.get("serverId"))
    return True


# -- settings -----------------------------------------------------------------------------------


@route("settings.health")
def settings_health(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    """A public procedure (no key on the native surface): ``SELECT 1``, which throws while the database is down."""
    if app.faults.database_down:
        raise ApiError("INTERNAL_SERVER_ERROR", DATABASE_ERROR)
    return {"status": "ok"}


@route("settings.getDokployVersion")
def settings_version(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    return DOKPLOY_VERSION
