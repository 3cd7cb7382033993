"""What runs, as Dokploy v0.30.2's API reports it: ``docker.getContainersByAppNameMatch``,
``docker.getConfig`` and ``compose.readLogs`` of the STAND-IN.

With ``docker=True`` these run the commands Dokploy runs (``packages/server/src/services/docker.ts``:
``getContainersByAppNameMatch``, ``getStackTaskContainers``, ``getConfig``, ``getContainerLogs``)
and parse their output the way Dokploy does, failures included: a failing command gives ``[]``
(listing), an empty body (``getConfig``) or, for logs, the command's own error text.
With ``docker=False`` they read ``SimContainers``: the containers the simulated deploys would have
started (the compose file's images, environment, healthchecks, names), stopped by compose.stop,
started by compose.start, removed by compose.delete, and changed by a test with ``set()``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import shlex
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from testkit.dokploy import yamltext
from testkit.dokploy.handlers import UNDEFINED, ApiError, route

if TYPE_CHECKING:
    from testkit.dokploy.server import FakeDokploy

PS_FORMAT = "CONTAINER ID : {{.ID}} | Name: {{.Names}} | State: {{.State}} | Status: {{.Status}}"
TASK_FORMAT = "TASK : {{.ID}} | Name: {{.Name}} | Node: {{.Node}} | CurrentState: {{.CurrentState}} | Error: {{.Error}}"
TASK_CONTAINER_FORMAT = "{{if .Status.ContainerStatus}}TASK : {{.ID}} | ContainerId: {{.Status.ContainerStatus.ContainerID}}{{end}}"
ZERO_TIME = "0001-01-01T00:00:00Z"
IMAGE_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# -- routes -------------------------------------------------------------------------------------


def _check_server(app: FakeDokploy, inp: dict[str, Any]) -> None:
    """findServerById: an unknown serverId is NOT_FOUND. Known servers (if the stand-in has any) run on this engine."""
    server_id = inp.get("serverId")
    if server_id and server_id not in getattr(app.state, "servers", {}):
        raise ApiError("NOT_FOUND", "Server not found")


def _exec(app: FakeDokploy, args: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a docker command run like the stand-in's other commands."""
    runner = app.docker_runner
    assert runner is not None
    try:
        done = subprocess.run(args, env=runner.env(), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", str(exc)
    return done.returncode, done.stdout, done.stderr


def _field(parts: list[str], i: int, prefix: str, missing: str) -> str:
    """`parts[i] ? parts[i].replace(prefix, "").trim() : missing` of Dokploy's parsers."""
    return parts[i].replace(prefix, "", 1).strip() if i < len(parts) and parts[i] else missing


def _ps_row(line: str) -> dict[str, Any]:
    parts = line.split(" | ")
    return {"containerId": _field(parts, 0, "CONTAINER ID : ", "No container id"), "name": _field(parts, 1, "Name: ", "No container name"),
            "state": _field(parts, 2, "State: ", "No state"), "status": _field(parts, 3, "Status: ", "")}


def grep_name(app_name: str) -> re.Pattern[str]:
    """`grep '^.*Name: <appName>'`: a basic regex, so each `.` of the app name matches any character."""
    return re.compile("^.*Name: " + ".".join(re.escape(part) for part in app_name.split(".")))


def _task_rows(tasks: str, containers: str) -> list[dict[str, Any]]:
    """getStackTaskContainers: join `docker stack ps` lines with the tasks' container ids."""
    ids: dict[str, str] = {}
    for line in containers.strip().split("\n"):
        parts = line.split(" | ")
        if len(parts) > 1 and parts[0].replace("TASK : ", "", 1).strip() and parts[1].replace("ContainerId: ", "", 1).strip():
            ids[parts[0].replace("TASK : ", "", 1).strip()] = parts[1].replace("ContainerId: ", "", 1).strip()
    rows = []
    for line in tasks.strip().split("\n"):
        if not line:
            continue
        parts = line.split(" | ")
        task, name, node = (_field(parts, i, p, "") for i, p in enumerate(("TASK : ", "Name: ", "Node: ")))
        current, error = _field(parts, 3, "CurrentState: ", ""), _field(parts, 4, "Error: ", "")
        rows.append({"containerId": ids.get(task, "")[:12], "name": f"{name}.{task}", "node": node,
                     "state": current.split(" ")[0].lower(), "status": f"{current} ({error})" if error else current})
    return rows


def _docker_stack_rows(app: FakeDokploy, app_name: str) -> list[dict[str, Any]]:
    base = ["docker", "stack", "ps", app_name, "--no-trunc", "--filter", "desired-state=running"]
    code, tasks, _ = _exec(app, [*base, "--format", TASK_FORMAT])
    if code != 0:
        return []
    _, task_ids, _ = _exec(app, [*base, "-q"])
    containers = _exec(app, ["docker", "inspect", "--format", TASK_CONTAINER_FORMAT, *task_ids.split()])[1] if task_ids.split() else ""
    return _task_rows(tasks, containers)


@route("docker.getContainersByAppNameMatch")
def containers_by_app_name_match(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    _check_server(app, inp)
    app_name, app_type = inp["appName"], inp.get("appType")
    if app.docker_runner is None:
        return app.containers.rows(app_name, app_type)
    if app_type == "stack":
        return _docker_stack_rows(app, app_name)
    args = ["docker", "ps", "-a", "--format", PS_FORMAT]
    if app_type == "docker-compose":
        args.append(f"--filter=label=com.docker.compose.project={app_name}")
    code, out, err = _exec(app, args)
    if code != 0 or err or not out:
        return []
    lines = out.strip().split("\n")
    if app_type is None:
        lines = [line for line in lines if grep_name(app_name).search(line)]
    return [_ps_row(line) for line in lines]


@route("docker.getConfig")
def docker_get_config(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    """`docker inspect <id> --format='{{json .}}'`: the object; any failure is swallowed (empty body)."""
    _check_server(app, inp)
    if app.docker_runner is None:
        found = app.containers.inspect(inp["containerId"])
        return UNDEFINED if found is None else found
    code, out, err = _exec(app, ["docker", "inspect", inp["containerId"], "--format={{json .}}"])
    if code != 0 or err:
        return UNDEFINED
    try:
        return json.loads(out)
    except ValueError:
        return UNDEFINED


@route("docker.removeContainer")
def docker_remove_container(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    """containerRemove: ``docker rm -f <id>``; anything on stderr is thrown (500 with it as the message); no answer body."""
    _check_server(app, inp)
    cid = inp["containerId"]
    if app.docker_runner is None:
        if not app.containers.remove_one(cid):
            raise ApiError("INTERNAL_SERVER_ERROR", f"Error response from daemon: No such container: {cid}")
        return UNDEFINED
    _, _, err = _exec(app, ["docker", "rm", "-f", cid])
    if err:
        raise ApiError("INTERNAL_SERVER_ERROR", err.strip())
    return UNDEFINED


@route("compose.readLogs")
def compose_read_logs(app: FakeDokploy, inp: dict[str, Any]) -> Any:
    """getContainerLogs(containerId, tail, since, search): `docker container logs --timestamps ... 2>&1 [| grep -iF]`."""
    with app.state.lock:
        if inp["composeId"] not in app.state.composes:
            raise ApiError("NOT_FOUND", "Compose not found")
    container, tail, since, search = inp["containerId"], int(inp.get("tail", 100)), inp.get("since", "all"), inp.get("search")
    command = f"docker container logs --timestamps --tail {tail} {'' if since == 'all' else f'--since {since}'} {container} 2>&1"
    if app.docker_runner is None:
        code, out = app.containers.logs(container, tail, since)
    else:
        since_args = [] if since == "all" else ["--since", since]
        code, out = app.docker_runner.run(["docker", "container", "logs", "--timestamps", "--tail", str(tail), *since_args, container])
    if search:
        command += f" | grep -iF '{search}'"
        kept = [line if line.endswith("\n") else line + "\n" for line in out.splitlines(keepends=True) if search.lower() in line.lower()]
        code, out = (0, "".join(kept)) if kept else (1, "")
    if code == 0 or out:  # a failed command's output is returned as the logs
        return out
    raise ApiError("INTERNAL_SERVER_ERROR", f"Command execution failed: Command failed: {command}\n")


# -- the simulation (docker=False) --------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """go-units HumanDuration, as in `docker ps` statuses."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s < 60:
        return "1 second" if s == 1 else f"{s} seconds"
    minutes = s // 60
    if minutes < 60:
        return "About a minute" if minutes == 1 else f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours < 48:
        return "About an hour" if hours == 1 else f"{hours} hours"
    if hours < 24 * 14:
        return f"{hours // 24} days"
    if hours < 24 * 60:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 730:
        return f"{hours // 24 // 30} months"
    return f"{s // 3600 // 24 // 365} years"


def rfc3339(ts: float | None) -> str:
    """Docker's fixed RFC 3339 timestamp with nanoseconds (zero time for None)."""
    if ts is None:
        return ZERO_TIME
    dt = datetime.fromtimestamp(ts, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond * 1000:09d}Z"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def duration_ns(value: Any) -> int:
    return sum(int(float(n) * _UNIT_NS[u]) for n, u in _DURATION.findall(str(value or "")))


_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)(?::?[-?]([^}]*))?\}|\$([A-Za-z_]\w*)")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Enough of compose interpolation: `$$`, `${X}`, `${X:-default}`, `$X`."""
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(3)
        return variables.get(name) or m.group(2) or ""

    return _VARIABLE.sub(repl, text)


@dataclass
class SimContainer:
    id: str
    name: str
    app_name: str
    service: str
    number: int
    image: str
    env: list[str]
    cmd: list[str] | None
    healthcheck: dict[str, Any] | None
    restart: str
    networks: list[str]
    labels: dict[str, str]
    config_hash: str
    task_id: str = ""  # stack (Swarm task) containers only
    created: float = field(default_factory=time.time)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    state: str = "running"  # running | exited | restarting
    exit_code: int = 0
    health: str | None = None
    base_restarts: int = 0
    crash_every: float | None = None  # crash loop: one more restart every `crash_every` seconds
    crash_since: float = 0.0
    logs: list[tuple[float, str]] = field(default_factory=list)

    def restart_count(self, now: float) -> int:
        extra = int((now - self.crash_since) / self.crash_every) + 1 if self.crash_every else 0
        return self.base_restarts + extra

    def status(self, now: float) -> str:
        if self.state == "running":
            suffix = {None: "", "starting": " (health: starting)"}.get(self.health, f" ({self.health})")
            return f"Up {human_duration(now - self.started)}{suffix}"
        since = human_duration(now - (self.finished or now))
        return f"{'Restarting' if self.state == 'restarting' else 'Exited'} ({self.exit_code}) {since} ago"


class SimContainers:
    """The containers simulated deploys started, by appName; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: dict[str, SimContainer] = {}  # by full id
        self.node = socket.gethostname()

    # -- lifecycle hooks (deploy queue, compose.stop/start/delete) ------------------------------

    def deploy(self, compose: dict[str, Any], env: list[str]) -> None:
        """`docker compose up -d --remove-orphans` / `docker stack deploy --prune` of the compose file."""
        app_name, stack = compose["appName"], compose["composeType"] == "stack"
        variables = dict(line.split("=", 1) for line in env if "=" in line) if compose.get("createEnvFile") else {}
        variables.update(APP_NAME=app_name, COMPOSE_PROJECT_NAME=app_name)
        try:
            data = yamltext.parse(interpolate(compose.get("composeFile") or "", variables))  # the file as Dokploy wrote it
        except yamltext.ParseError:
            data = None
        services = data.get("services") if isinstance(data, dict) else None
        now = time.time()
        with self._lock:
            old = {(c.service, c.number): c for c in self._all.values() if c.app_name == app_name}
            for i, spec in enumerate(self._specs(app_name, stack, services if isinstance(services, dict) else {}, data)):
                kept = old.pop((spec.service, spec.number), None)
                if kept is not None and kept.config_hash == spec.config_hash:
                    if kept.state == "exited":  # `up` starts a stopped container again
                        kept.state, kept.started = "running", now
                        kept.health = "healthy" if kept.healthcheck else None
                    continue
                if kept is not None:
                    del self._all[kept.id]
                spec.created = spec.started = now + i * 1e-3
                spec.health = "healthy" if spec.healthcheck else None
                spec.logs.append((now, f"{spec.service} started (simulated by testkit.dokploy)"))
                self._all[spec.id] = spec
            for gone in old.values():
                del self._all[gone.id]

    def _specs(self, app_name: str, stack: bool, services: dict[str, Any], data: Any) -> list[SimContainer]:
        top = data.get("networks") if isinstance(data, dict) else None
        top_networks: dict[str, Any] = top if isinstance(top, dict) else {}
        out = []
        for service, raw in services.items():
            svc: dict[str, Any] = raw if isinstance(raw, dict) else {}
            deploy = svc.get("deploy") if isinstance(svc.get("deploy"), dict) else {}
            count = svc.get("scale", (deploy or {}).get("replicas", 1))
            replicas = 1 if count is None else int(count)
            env = svc.get("environment") or {}
            env_list = [str(e) for e in env] if isinstance(env, list) else [f"{k}={'' if v is None else v}" for k, v in env.items()]
            cmd = svc.get("command")
            cmd_list = shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd] if isinstance(cmd, list) else None
            networks = [_network_name(app_name, str(net), top_networks.get(net)) for net in list(svc.get("networks") or ["default"])]
            image, restart = str(svc.get("image") or f"{app_name}-{service}"), str(svc.get("restart") or "no")
            healthcheck, container_name = _healthcheck(svc.get("healthcheck")), svc.get("container_name")
            config = [image, env_list, cmd_list, healthcheck, restart, networks, container_name]
            config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
            for number in range(1, replicas + 1):
                task_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(25)) if stack else ""
                if stack:
                    name = f"{app_name}_{service}.{number}.{task_id}"
                    labels = {"com.docker.stack.namespace": app_name, "com.docker.swarm.service.name": f"{app_name}_{service}",
                              "com.docker.swarm.task.id": task_id, "com.docker.swarm.task.name": name}
                else:
                    name = str(container_name) if container_name and replicas == 1 else f"{app_name}-{service}-{number}"
                    code = f"/etc/dokploy/compose/{app_name}/code"
                    labels = {"com.docker.compose.config-hash": config_hash, "com.docker.compose.container-number": str(number),
                              "com.docker.compose.oneoff": "False", "com.docker.compose.project": app_name,
                              "com.docker.compose.project.config_files": f"{code}/docker-compose.yml",
                              "com.docker.compose.project.working_dir": code, "com.docker.compose.service": str(service),
                              "com.docker.compose.version": "2.40.3"}
                out.append(SimContainer(secrets.token_hex(32), name, app_name, str(service), number, image, env_list, cmd_list,
                                        healthcheck, restart, networks, labels, config_hash, task_id))
        return out

    def stop(self, app_name: str, stack: bool = False) -> None:
        """compose.stop: `docker compose stop` (exited, code 0) or `docker stack rm` (gone)."""
        now = time.time()
        with self._lock:
            for c in [c for c in self._all.values() if c.app_name == app_name]:
                if stack:
                    del self._all[c.id]
                elif c.state != "exited":
                    c.state, c.exit_code, c.finished, c.crash_every = "exited", 0, now, None
                    c.health = "unhealthy" if c.health else None

    def start(self, app_name: str) -> None:
        """compose.start: `docker compose up -d` starts the stopped containers again."""
        now = time.time()
        with self._lock:
            for c in self._all.values():
                if c.app_name == app_name and c.state == "exited":
                    c.state, c.started = "running", now
                    c.health = "healthy" if c.healthcheck else None

    def remove(self, app_name: str) -> None:
        with self._lock:
            for cid in [c.id for c in self._all.values() if c.app_name == app_name]:
                del self._all[cid]

    def remove_one(self, ref: str) -> bool:
        """``docker rm -f``: one container (id, id prefix or name); False when there is none."""
        with self._lock:
            c = self._find(ref)
            if c is not None:
                del self._all[c.id]
            return c is not None

    # -- knobs for tests --------------------------------------------------------------------------

    def set(self, container: str, *, state: str | None = None, health: str | None = None, restart_count: int | None = None,
            exit_code: int | None = None, crash_every: float | None = None, log: str | None = None) -> str:
        """Change a container (id, id prefix or name): ``health`` "healthy"/"unhealthy"/"starting",
        ``state`` "running"/"exited"/"restarting", ``crash_every`` seconds (a crash loop: restarting,
        exit code 1, RestartCount rising by one per period), a ``log`` line. Returns the full id."""
        now = time.time()
        with self._lock:
            c = self._find(container)
            if c is None:
                raise KeyError(f"no simulated container {container!r}")
            if crash_every is not None:
                c.base_restarts, c.crash_every, c.crash_since = c.restart_count(now), crash_every, now
                c.state, c.exit_code, c.finished = "restarting", 1 if exit_code is None else exit_code, now
            if state is not None:
                if state not in ("running", "exited", "restarting"):
                    raise ValueError(f"state must be running, exited or restarting, not {state!r}")
                if state == "running" and c.state != "running":
                    c.started, c.crash_every, c.base_restarts = now, None, c.restart_count(now)
                elif state != "running":
                    c.finished = now
                c.state = state
            if exit_code is not None:
                c.exit_code = exit_code
            if health is not None:
                c.health = health
            if restart_count is not None:
                c.base_restarts, c.crash_every = restart_count, None
            if log is not None:
                c.logs.append((now, log))
            return c.id

    def control(self, spec: dict[str, Any]) -> dict[str, Any]:
        """``POST /__fake__/containers``: ``{"container", "state"?, "health"?, "restartCount"?, "exitCode"?, "crashEvery"?, "log"?}``."""
        if not isinstance(spec, dict) or not isinstance(spec.get("container"), str):
            raise ValueError('the spec needs "container": an id, id prefix or name')
        keys = {"state": "state", "health": "health", "restartCount": "restart_count", "exitCode": "exit_code",
                "crashEvery": "crash_every", "log": "log"}
        unknown = set(spec) - set(keys) - {"container"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        cid = self.set(spec["container"], **{keys[k]: v for k, v in spec.items() if k in keys})
        return {"Id": cid}

    # -- reading (the routes) -------------------------------------------------------------------

    def _find(self, ref: str) -> SimContainer | None:
        ref = ref.lstrip("/")
        if ref in self._all:
            return self._all[ref]
        by_name = [c for c in self._all.values() if c.name == ref]
        by_prefix = [c for c in self._all.values() if c.id.startswith(ref)]
        found = by_name or by_prefix
        return found[0] if len(found) == 1 else None

    def rows(self, app_name: str, app_type: str | None) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            if app_type == "stack":
                tasks = sorted((c for c in self._all.values() if c.app_name == app_name and c.task_id), key=lambda c: c.name)
                return [{"containerId": c.id[:12], "name": c.name, "node": self.node, "state": "running",
                         "status": f"Running {human_duration(now - c.started)} ago"} for c in tasks]
            newest_first = sorted(self._all.values(), key=lambda c: c.created, reverse=True)
            rows = [{"containerId": c.id[:12], "name": c.name, "state": c.state, "status": c.status(now)} for c in newest_first
                    if app_type is None or (not c.task_id and c.app_name == app_name)]
        if app_type is None:
            pattern = grep_name(app_name)
            rows = [r for r in rows if pattern.search(f"CONTAINER ID : {r['containerId']} | Name: {r['name']} | State: {r['state']}")]
        return rows

    def services(self) -> list[dict[str, Any]]:
        """`docker service ls --format '{{json .}}'` rows of the simulated stacks' services (a stack's are its Swarm services)."""
        with self._lock:
            tasks = sorted((c for c in self._all.values() if c.task_id), key=lambda c: (c.app_name, c.service, c.number))
            by_service: dict[str, list[SimContainer]] = {}
            for c in tasks:
                by_service.setdefault(f"{c.app_name}_{c.service}", []).append(c)
        return [{"ID": _hex(name)[:25], "Image": cs[0].image, "Mode": "replicated", "Name": name, "Ports": "",
                 "Replicas": f"{sum(c.state == 'running' for c in cs)}/{len(cs)}"} for name, cs in sorted(by_service.items())]

    def inspect(self, ref: str) -> dict[str, Any] | None:
        now = time.time()
        with self._lock:
            c = self._find(ref)
            return None if c is None else copy.deepcopy(_inspect(c, now))

    def logs(self, ref: str, tail: int, since: str) -> tuple[int, str]:
        """`docker container logs --timestamps --tail N [--since S] <ref>` with stderr merged: (exit code, output)."""
        cutoff = 0.0
        if since != "all":
            m = re.fullmatch(r"(\d+)([smh])", since)
            if m is None:
                return 1, f'invalid value for "since": failed to parse value as time or duration: "{since}"\n'
            cutoff = time.time() - int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
        with self._lock:
            c = self._find(ref)
            if c is None:
                return 1, f"Error response from daemon: No such container: {ref}\n"
            entries = [(ts, text) for ts, text in c.logs if ts >= cutoff][-tail:]
        return 0, "".join(f"{rfc3339(ts)} {text}\n" for ts, text in entries)


def _network_name(app_name: str, net: str, spec: Any) -> str:
    """A compose network's engine name: its `name:`, an external network's own name, else `<project>_<net>`."""
    spec = spec if isinstance(spec, dict) else {}
    return str(spec.get("name") or (net if spec.get("external") else f"{app_name}_{net}"))


def _healthcheck(raw: Any) -> dict[str, Any] | None:
    """A compose healthcheck as `docker inspect` shows it in Config.Healthcheck (None: no healthcheck)."""
    if not isinstance(raw, dict) or raw.get("disable"):
        return None
    test = raw.get("test")
    test = ["CMD-SHELL", test] if isinstance(test, str) else [str(t) for t in test] if isinstance(test, list) else None
    if not test or test == ["NONE"]:
        return None
    out: dict[str, Any] = {"Test": test}
    for key, name in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod")):
        if raw.get(key):
            out[name] = duration_ns(raw[key])
    if raw.get("retries") is not None:
        out["Retries"] = int(raw["retries"])
    return out


def _hex(text: str) -> str:
    """A stable made-up id (image id, network id) for a name."""
    return hashlib.sha256(text.encode()).hexdigest()


def _inspect(c: SimContainer, now: float) -> dict[str, Any]:
    """The `docker inspect` object of a simulated container (the fields a deploy tool reads, in Docker's order)."""
    running = c.state in ("running", "restarting")
    state: dict[str, Any] = {"Status": c.state, "Running": running, "Paused": False, "Restarting": c.state == "restarting",
                             "OOMKilled": False, "Dead": False, "Pid": 4242 if c.state == "running" else 0, "ExitCode": c.exit_code,
                             "Error": "", "StartedAt": rfc3339(c.started), "FinishedAt": rfc3339(c.finished)}
    if c.healthcheck:
        streak = 3 if c.health == "unhealthy" and c.state == "running" else 0  # a stopped container keeps "unhealthy", streak 0
        probed = max(c.started, now - 1)
        entry = {"Start": rfc3339(probed), "End": rfc3339(probed), "ExitCode": 1 if streak else 0, "Output": ""}
        state["Health"] = {"Status": c.health or "starting", "FailingStreak": streak, "Log": [entry] if c.health != "starting" else []}
    policy, _, retries = c.restart.partition(":")
    config: dict[str, Any] = {"Hostname": c.id[:12], "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
                              "AttachStderr": True, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": [*c.env, IMAGE_PATH],
                              "Cmd": c.cmd}
    if c.healthcheck:
        config["Healthcheck"] = c.healthcheck
    config.update({"Image": c.image, "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": c.labels})
    networks = {n: {"IPAMConfig": None, "Links": None, "Aliases": [c.service, c.id[:12]], "NetworkID": _hex(n), "EndpointID": "",
                    "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": ""} for n in c.networks}
    return {
        "Id": c.id, "Created": rfc3339(c.created), "Path": (c.cmd or ["/bin/sh"])[0], "Args": (c.cmd or [])[1:], "State": state,
        "Image": f"sha256:{_hex(c.image)}", "Name": f"/{c.name}", "RestartCount": c.restart_count(now), "Driver": "overlay2",
        "Platform": "linux", "HostConfig": {"NetworkMode": c.networks[0] if c.networks else "default",
                                            "RestartPolicy": {"Name": policy, "MaximumRetryCount": int(retries or 0)}},
        "Mounts": [], "Config": config, "NetworkSettings": {"Networks": networks},
    }
