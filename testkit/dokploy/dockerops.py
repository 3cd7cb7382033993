"""Docker side of the Dokploy v0.30.2 STAND-IN: what Dokploy runs on its host for a compose.

Files go where Dokploy puts them, under ``work_dir`` instead of ``/etc/dokploy``:
``<work_dir>/compose/<appName>/code/docker-compose.yml`` (+ ``.env``) and
``<work_dir>/logs/<appName>/<appName>-<yyyy-MM-dd:HH:mm:ss>.log``. Commands run like Dokploy's
``env -i PATH=... docker compose ...``: a minimal environment without HOME; ``DOCKER_CONFIG``
points at the stand-in's own docker config directory (where ``registry.create`` logs in, as
Dokploy's ``/root/.docker`` volume), and ``DOCKER_HOST`` is passed through when set.
Every remote "server" runs on this same engine; each has its own docker config directory
(``<work_dir>/servers/<serverId>/docker-config``, its ``/root/.docker``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testkit.dokploy import envtext
from testkit.dokploy.envtext import EnvReferenceError

__all__ = ["DockerRunner", "EnvReferenceError", "default_command", "resolve_env", "stack_deploy_command", "stack_env"]
NETWORK = "dokploy-network"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def resolve_env(env: str | None, project_env: str | None, environment_env: str | None) -> list[str]:
    """prepareEnvironmentVariables: the env text as Dokploy parses it, references resolved, as ``KEY=value`` lines."""
    return envtext.raw_lines(envtext.prepare(env, project_env, environment_env))


def stack_env(resolved: list[str]) -> dict[str, str]:
    """getEnvironmentVariablesObject: the resolved env as variables for `docker stack deploy` (empty values dropped)."""
    pairs = (line.split("=", 1) for line in resolved)
    return {key: value for key, value in pairs if key and value}


def stack_deploy_command(compose: dict[str, Any], scopes: tuple[str | None, str | None], passthrough: list[str]) -> str:
    """What Dokploy's /bin/sh runs for a stack: ``env -i PATH="$PATH" ... <getExportEnvCommand> docker stack deploy ...``.

    ``passthrough``: the variables of the runner's environment kept (the stand-in's DOCKER_CONFIG and DOCKER_HOST
    instead of Dokploy's HOME, whose ``.docker`` is the stand-in's per-server config directory).
    """
    kept = " ".join(f'{name}="${name}"' for name in ["PATH", *passthrough])
    exported = envtext.exports(envtext.prepare(compose["env"], *scopes))
    return " ".join(part for part in ("env -i", kept, exported, "docker", default_command(compose)) if part)


def sanitize_command(command: str) -> list[str]:
    """Dokploy's sanitizeCommand: split on whitespace, strip surrounding double quotes."""
    return [re.sub(r'^"(.*)"$', r"\1", part) for part in command.strip().split()]


def default_command(compose: dict[str, Any]) -> str:
    """Dokploy's createCommand (without the leading `docker`): the custom command or the default one."""
    if compose["command"]:
        return " ".join(sanitize_command(compose["command"]))
    path = "docker-compose.yml" if compose["sourceType"] == "raw" else compose["composePath"]
    if compose["composeType"] == "stack":
        return f"stack deploy -c {path} {compose['appName']} --prune --with-registry-auth"
    return f"compose -p {compose['appName']} -f {path} up -d --build --remove-orphans"


class DockerRunner:
    """Runs docker / docker compose for the stand-in, streaming output to a callback."""

    def __init__(self, work_dir: Path, docker_config: Path | None = None) -> None:
        self.work_dir = work_dir
        self.docker_config = docker_config or (work_dir / "docker-config")
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._detached: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    # -- environment and paths ----------------------------------------------------------------

    def env(self, docker_config: Path | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH") or DEFAULT_PATH, "DOCKER_CONFIG": str(docker_config or self.docker_config)}
        if os.environ.get("DOCKER_HOST"):
            env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        return {**env, **(extra or {})}

    def config_for(self, server_id: str | None) -> Path:
        """The docker config directory of a server (None or "none": the Dokploy host itself)."""
        if not server_id or server_id == "none":
            return self.docker_config
        return self.work_dir / "servers" / server_id / "docker-config"

    def app_dir(self, app_name: str) -> Path:
        return self.work_dir / "compose" / app_name

    def code_dir(self, app_name: str) -> Path:
        return self.app_dir(app_name) / "code"

    def log_path(self, app_name: str, stamp: str) -> Path:
        return self.work_dir / "logs" / app_name / f"{app_name}-{stamp}.log"

    # -- running commands ---------------------------------------------------------------------

    def run(self, args: list[str], cwd: Path | None = None, on_output: Callable[[str], None] | None = None,
            abort: threading.Event | None = None, stdin: bytes | None = None, docker_config: Path | None = None,
            extra_env: dict[str, str] | None = None, detached: bool = False) -> tuple[int, str]:
        """Run a command; returns (exit code, combined output). Killed when `abort` is set; ``detached`` (a remote
        server's command) outlives a restart: only ``kill_all(detached=True)`` kills it."""
        (docker_config or self.docker_config).mkdir(parents=True, exist_ok=True)
        try:
            proc = subprocess.Popen(args, cwd=cwd, env=self.env(docker_config, extra_env),
                                    stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            text = f"{exc}\n"
            if on_output:
                on_output(text)
            return 127, text
        procs = self._detached if detached else self._procs
        with self._lock:
            procs.add(proc)
        watcher = None
        if abort is not None:
            watcher = threading.Thread(target=self._kill_on, args=(proc, abort), daemon=True)
            watcher.start()
        chunks: list[str] = []
        try:
            if stdin is not None and proc.stdin:
                proc.stdin.write(stdin)
                proc.stdin.close()
            assert proc.stdout is not None
            for raw in iter(proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace")
                chunks.append(line)
                if on_output:
                    on_output(line)
            code = proc.wait()
        finally:
            with self._lock:
                procs.discard(proc)
        return code, "".join(chunks)

    @staticmethod
    def _kill_on(proc: subprocess.Popen[bytes], abort: threading.Event) -> None:
        while proc.poll() is None:
            if abort.wait(0.2):
                DockerRunner._kill(proc)
                return

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def kill_all(self, detached: bool = False) -> None:
        """Kill every command still running (a restart of Dokploy kills its children); the remote ones too with ``detached``."""
        with self._lock:
            procs = list(self._procs) + (list(self._detached) if detached else [])
        for proc in procs:
            self._kill(proc)

    # -- Dokploy operations -------------------------------------------------------------------

    def swarm_manager(self) -> bool:
        code, out = self.run(["docker", "info", "--format", "{{.Swarm.ControlAvailable}}"])
        return code == 0 and out.strip() == "true"

    def ensure_network(self, name: str = NETWORK) -> str:
        """Dokploy's setup creates the external network its services join; returns its driver.

        On a Swarm manager it must be an attachable overlay (stacks need a swarm-scoped network;
        compose-mode containers attach to it too), elsewhere an attachable bridge. A bridge found
        on a Swarm manager is replaced by the overlay when no container is attached to it;
        otherwise it is kept (someone's containers use it) and stack deploys fail with Docker's
        own "not in the right scope" error, as they would on a Dokploy host set up that way.
        """
        swarm = self.swarm_manager()
        for _ in range(3):  # another process may create or remove it meanwhile
            code, out = self.run(["docker", "network", "inspect", "-f", "{{.Driver}} {{.Attachable}} {{len .Containers}}", name])
            if code == 0:
                driver, attachable, attached = out.split()
                if not swarm or (driver, attachable) == ("overlay", "true") or attached != "0":
                    return driver
                self.run(["docker", "network", "rm", name])
            driver = "overlay" if swarm else "bridge"
            code, out = self.run(["docker", "network", "create", "--driver", driver, "--attachable", name])
            if code == 0:
                return driver
            if "already exists" not in out:
                raise RuntimeError(f"cannot create the {name} network: {out.strip()}")
        raise RuntimeError(f"cannot settle the {name} network (created and removed concurrently?)")

    def write_compose(self, app_name: str, compose_file: str, env_lines: list[str] | None) -> Path:
        """raw provider: rm -rf code; mkdir; write docker-compose.yml (and .env when createEnvFile)."""
        code = self.code_dir(app_name)
        shutil.rmtree(code, ignore_errors=True)
        code.mkdir(parents=True, exist_ok=True)
        (code / "docker-compose.yml").write_text(compose_file, encoding="utf-8")
        if env_lines is not None:
            env_file = code / ".env"
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write("\n".join(env_lines))
        return code

    def env_file_lines(
        self, compose: dict[str, Any], scopes: tuple[str | None, str | None], docker_config: Path | None = None
    ) -> list[str]:
        """getCreateEnvFileCommand: APP_NAME, COMPOSE_PROJECT_NAME, the env, DOCKER_CONFIG (unless the text names it),
        COMPOSE_PREFIX (randomize), parsed and resolved as one text, then written as compose mode's ``KEY="..."``
        lines, or raw ``KEY=value`` lines for a stack (which docker stack deploy does not read)."""
        app_name = compose["appName"]
        content = f"APP_NAME={app_name}\nCOMPOSE_PROJECT_NAME={app_name}\n" + (compose["env"] or "")
        if "DOCKER_CONFIG" not in content:
            content += f"\nDOCKER_CONFIG={docker_config or self.docker_config}"
        if compose["randomize"]:
            content += f"\nCOMPOSE_PREFIX={compose['suffix']}"
        pairs = envtext.prepare(content, *scopes)
        return envtext.raw_lines(pairs) if compose["composeType"] == "stack" else envtext.for_file(pairs)

    def compose_down(self, app_name: str, volumes: bool) -> tuple[int, str]:
        args = ["docker", "compose", "-p", app_name, "down"] + (["--volumes"] if volumes else [])
        return self.run(args, cwd=self.work_dir)

    def compose_stop(self, app_name: str) -> tuple[int, str]:
        cwd = self.app_dir(app_name)
        return self.run(["docker", "compose", "-p", app_name, "stop"], cwd=cwd if cwd.is_dir() else self.work_dir)

    def compose_start(self, app_name: str, file_name: str) -> tuple[int, str]:
        cwd = self.code_dir(app_name)
        if not cwd.is_dir():
            return 1, f"spawn /bin/sh ENOENT (no directory {cwd})"
        return self.run(["docker", "compose", "-p", app_name, "-f", file_name, "up", "-d"], cwd=cwd)

    def remove_files(self, app_name: str) -> None:
        shutil.rmtree(self.app_dir(app_name), ignore_errors=True)
        shutil.rmtree(self.work_dir / "logs" / app_name, ignore_errors=True)

    def login(self, url: str, username: str, password: str, docker_config: Path | None = None) -> tuple[int, str]:
        args = ["docker", "login"] + ([url] if url else []) + ["-u", username, "--password-stdin"]
        code, out = self.run(args, stdin=password.encode(), docker_config=docker_config)
        return code, out.replace(password, "********") if password else out

    def logout(self, url: str) -> tuple[int, str]:
        return self.run(["docker", "logout"] + ([url] if url else []))
