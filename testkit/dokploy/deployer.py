"""Deploy queue of the Dokploy v0.30.2 STAND-IN (Dokploy's in-memory queue, PR #4645).

Semantics copied from Dokploy: ``compose.deploy``/``redeploy`` enqueue a job and return; jobs
of the same compose run strictly FIFO, one at a time; across composes at most
``concurrency`` jobs run at once (Dokploy's community default is 1, so different composes are
serialized too). A started job waits ``start_delay`` (real Dokploy: ~0.4 s), sets
``composeStatus: "running"``, inserts the deployment row (trimming to 11 rows), runs, then
marks the row and the compose ``done``/``error``. ``reset()`` is Dokploy's restart: waiting
jobs vanish, running ones are abandoned and never write their outcome (their rows stay ``running``).
A job's commands run inside Dokploy's container, so they die with it (tini is PID 1: when node exits,
the kernel kills the rest of the container); a job on a remote server runs over SSH without a terminal,
its output going to the log file, so it goes on to the end on that server. While the database is down
(``faults.database_down``) a job can neither start (``updateCompose`` throws, the job returns) nor write
its outcome (the row stays ``running``). A run lasts ``deploy_duration``
when set, else what ``latency.deploy_run`` derives from the number of services (shorter when
nothing changed since the last successful deploy); a real docker run is padded up to it.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml

from testkit.dokploy.dockerops import EnvReferenceError, default_command, resolve_env, stack_deploy_command
from testkit.dokploy.domains import DomainError, converted
from testkit.dokploy.state import now_iso

if TYPE_CHECKING:
    from testkit.dokploy.server import FakeDokploy

DEPLOY_OK = "Docker Compose Deployed: ✅"
DEPLOY_FAILED = "Error: ❌ Docker command failed"
DEPLOY_ERROR_TRAILER = "\nError occurred ❌, check the logs for details."


@dataclass
class Job:
    id: str
    compose_id: str
    kind: str  # "deploy" | "redeploy"
    title: str
    description: str
    outcome: str | None
    timestamp: int = field(default_factory=lambda: int(time.time() * 1000))
    processed_on: int | None = None
    state: str = "waiting"
    abort: threading.Event = field(default_factory=threading.Event)
    remote: bool = False
    """Its compose runs on a remote server: a restart of Dokploy does not stop the run there."""

    def data(self) -> dict[str, Any]:
        return {"composeId": self.compose_id, "titleLog": self.title, "type": self.kind, "applicationType": "compose",
                "descriptionLog": self.description, "server": False}


class DeployQueue:
    """FIFO per compose, `concurrency` jobs at once, one worker thread per running job."""

    def __init__(self, app: FakeDokploy, concurrency: int = 1) -> None:
        self.app = app
        self.concurrency = max(1, concurrency)
        self._cv = threading.Condition(threading.RLock())
        self._waiting: list[Job] = []
        self._active: list[Job] = []
        self._seq = 0
        self.generation = 0
        self._closed = False
        self._deployed: dict[str, str] = {}  # appName -> what its last successful deploy deployed

    # -- queue operations ---------------------------------------------------------------------

    def add(self, compose_id: str, kind: str, title: str, description: str, outcome: str | None) -> Job:
        with self._cv:
            self._seq += 1
            job = Job(f"job-{self._seq}", compose_id, kind, title, description, outcome)
            self._waiting.append(job)
            self._drain()
            return job

    def remove_waiting(self, compose_id: str) -> int:
        """cleanQueuesByCompose: drop the waiting jobs of a compose."""
        with self._cv:
            before = len(self._waiting)
            self._waiting = [j for j in self._waiting if j.compose_id != compose_id]
            self._cv.notify_all()
            return before - len(self._waiting)

    def jobs(self) -> list[Job]:
        """Waiting and active jobs, newest first (deployment.queueList order)."""
        with self._cv:
            return sorted(self._waiting + self._active, key=lambda j: (j.timestamp, j.id), reverse=True)

    def busy(self) -> bool:
        with self._cv:
            return bool(self._waiting or self._active)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._waiting or self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.05))
            return True

    def reset(self) -> None:
        """Dokploy restart: forget waiting and running jobs; abandoned runs stop touching state; the commands of
        Dokploy's own process are killed, a remote server's run goes on."""
        with self._cv:
            self.generation += 1
            for job in self._active:
                if not job.remote or self._closed:
                    job.abort.set()
            self._waiting.clear()
            self._active.clear()
            self._cv.notify_all()
        if self.app.docker_runner is not None:
            self.app.docker_runner.kill_all(detached=self._closed)

    def close(self) -> None:
        with self._cv:
            self._closed = True
        self.reset()

    def _drain(self) -> None:
        while not self._closed and len(self._active) < self.concurrency:
            busy = {j.compose_id for j in self._active}
            job = next((j for j in self._waiting if j.compose_id not in busy), None)
            if job is None:
                return
            self._waiting.remove(job)
            job.state = "active"
            job.processed_on = int(time.time() * 1000)
            self._active.append(job)
            threading.Thread(target=self._run, args=(job, self.generation, job.abort), name=f"deploy-{job.id}", daemon=True).start()

    def _finish(self, job: Job, generation: int) -> None:
        with self._cv:
            if generation == self.generation and job in self._active:
                self._active.remove(job)
            self._drain()
            self._cv.notify_all()

    # -- running a job ------------------------------------------------------------------------

    def _run(self, job: Job, generation: int, abort: threading.Event) -> None:
        try:
            self._execute(job, generation, abort)
        except Exception as exc:  # a job failure must never kill the queue
            self._end(job, generation, None, "error", f"{exc}\n")
        finally:
            self._finish(job, generation)

    def _current(self, generation: int) -> bool:
        return generation == self.generation

    def _execute(self, job: Job, generation: int, abort: threading.Event) -> None:
        app = self.app
        if abort.wait(max(0.0, app.deploy_start_delay)):
            return
        state = app.state
        with state.write():
            if not self._current(generation) or app.faults.database_down:
                return  # database down: updateCompose throws, processDeploymentJob logs it and returns
            compose = state.composes.get(job.compose_id)
            if compose is None:
                return  # deleted meanwhile: findComposeById throws, the job fails silently
            job.remote = bool(compose["serverId"])
            compose["composeStatus"] = "running"
            stamp = datetime.now(UTC).strftime("%Y-%m-%d:%H:%M:%S")
            if app.docker_runner is not None:
                log_path = str(app.docker_runner.log_path(compose["appName"], stamp))
            else:
                log_path = f"/etc/dokploy/logs/{compose['appName']}/{compose['appName']}-{stamp}.log"
            row = state.insert_deployment(job.compose_id, job.title, job.description, log_path)
            dep_id = row["deploymentId"]
            snapshot = dict(compose)
            failure = ""
            try:  # writeDomainsToCompose: the file the deploy runs has the Traefik labels of the compose's domains
                if compose["sourceType"] == "raw":  # (the stand-in deploys nothing else)
                    snapshot["composeFile"] = converted(compose, state.compose_domains(job.compose_id))
            except DomainError as exc:
                failure = f"❌ Has occurred an error: {exc}\n"
            if compose["sourceType"] == "raw":  # the raw provider writes the file before building
                state.disk[compose["appName"]] = snapshot["composeFile"]
            env = state.environments.get(compose["environmentId"]) or {}
            project = state.projects.get(env.get("projectId", "")) or {}
            scopes = (project.get("env"), env.get("env"))
        self._write_log_file(dep_id)
        app.on_event("deploy", snapshot["name"], job.title)
        if failure:  # the deploy script exits before docker runs
            self._end(job, generation, dep_id, "error", failure)
            return

        outcome = job.outcome
        if outcome == "stuck":
            abort.wait()  # until restart()/stop()
            return
        if outcome == "error" or app.docker_runner is None:  # simulated run
            if abort.wait(self._duration(snapshot)):
                return
            if outcome == "error":
                self._end(job, generation, dep_id, "error", f"{app.faults.deploy_error_log_line}\n")
                return
            if self._succeeded(generation, snapshot) and app.docker_runner is None:  # the containers exist before "done"
                try:
                    env_lines = resolve_env(snapshot["env"], *scopes)
                except EnvReferenceError:
                    env_lines = []
                app.containers.deploy(snapshot, env_lines)
            self._end(job, generation, dep_id, "done", f"{DEPLOY_OK}\n")
            return
        self._docker_deploy(job, generation, abort, dep_id, snapshot, scopes)

    @staticmethod
    def _fingerprint(compose: dict[str, Any]) -> str:
        return repr((compose["composeFile"], compose["env"], compose["createEnvFile"], compose["command"]))

    def _duration(self, compose: dict[str, Any]) -> float:
        """How long a deploy job runs: ``deploy_duration`` if set, else the latency model."""
        if self.app.faults.deploy_duration is not None:
            return max(0.0, float(self.app.faults.deploy_duration))
        try:
            services = yaml.safe_load(compose["composeFile"] or "").get("services") or {}
        except (yaml.YAMLError, AttributeError):
            services = {}
        with self._cv:
            unchanged = self._deployed.get(compose["appName"]) == self._fingerprint(compose)
        count = len(services) if isinstance(services, dict) else 1
        return self.app.latency.deploy_run(count, unchanged, stack=compose["composeType"] == "stack")

    def _succeeded(self, generation: int, compose: dict[str, Any]) -> bool:
        with self._cv:
            if self._current(generation):
                self._deployed[compose["appName"]] = self._fingerprint(compose)
                return True
            return False

    def _docker_deploy(self, job: Job, generation: int, abort: threading.Event, dep_id: str,
                       compose: dict[str, Any], scopes: tuple[str | None, str | None]) -> None:
        runner = self.app.docker_runner
        assert runner is not None
        app_name = compose["appName"]

        def log(text: str) -> None:
            with self.app.state.lock:
                if self._current(generation):
                    self.app.state.append_log(dep_id, text)
            self._write_log_file(dep_id)

        if compose["sourceType"] != "raw":
            self._end(job, generation, dep_id, "error",
                      f"The Dokploy stand-in only deploys sourceType 'raw' (this compose uses '{compose['sourceType']}').\n")
            return
        env_lines = None
        config = runner.config_for(compose["serverId"])  # every server is this engine, with its own /root/.docker
        try:
            resolve_env(compose["env"], *scopes)  # an unknown ${{...}} reference fails the deploy before anything runs
            if compose["createEnvFile"]:
                env_lines = runner.env_file_lines(compose, scopes, config)
        except EnvReferenceError as exc:
            self._end(job, generation, dep_id, "error", f"{exc}\n")
            return
        code_dir = runner.write_compose(app_name, compose["composeFile"], env_lines)
        args = ["docker", *default_command(compose).split()]
        command = args
        if compose["composeType"] == "stack":  # getExportEnvCommand: the values on the command line /bin/sh runs
            passthrough = ["DOCKER_CONFIG", *(["DOCKER_HOST"] if os.environ.get("DOCKER_HOST") else [])]
            command = ["/bin/sh", "-c", stack_deploy_command(compose, scopes, passthrough)]
        log(self._banner(compose, " ".join(args)))
        floor = self._duration(compose)
        started = time.monotonic()
        code, _ = runner.run(command, cwd=code_dir, on_output=log, abort=abort, docker_config=config, detached=job.remote)
        if abort.wait(max(0.0, floor - (time.monotonic() - started))):
            return
        if code == 0:
            self._end(job, generation, dep_id, "done", f"{DEPLOY_OK}\n")
            self._succeeded(generation, compose)
        else:
            self._end(job, generation, dep_id, "error", f"{DEPLOY_FAILED}\n{DEPLOY_ERROR_TRAILER}\n")

    @staticmethod
    def _banner(compose: dict[str, Any], command: str) -> str:
        lines = [f"App Name: {compose['appName']}", "Build Compose 🐳", "Detected: 0 mounts 📂", f"Command: {command}",
                 f"Source Type: docker {compose['sourceType']} ✅", f"Compose Type: {compose['composeType']} ✅"]
        width = max(len(x) for x in lines) + 4
        body = "\n".join(f"║  {x.ljust(width - 4)}  ║" for x in lines)
        return f"\n╔{'═' * width}╗\n{body}\n╚{'═' * width}╝\n"

    def _end(self, job: Job, generation: int, dep_id: str | None, status: str, log_text: str) -> None:
        state = self.app.state
        with state.write():
            if not self._current(generation):
                return
            if dep_id is not None:
                state.append_log(dep_id, log_text)  # the log is a file: written whatever the database does
            if self.app.faults.database_down:  # updateDeploymentStatus throws: the row stays "running"
                return
            row = state.deployments.get(dep_id or "")
            if row is not None:
                row["status"] = status
                row["finishedAt"] = now_iso()
            compose = state.composes.get(job.compose_id)
            if compose is not None:
                compose["composeStatus"] = status
        if dep_id is not None:
            self._write_log_file(dep_id)

    def _write_log_file(self, dep_id: str) -> None:
        if self.app.docker_runner is None:
            return
        with self.app.state.lock:
            row = self.app.state.deployments.get(dep_id)
            text = self.app.state.logs.get(dep_id)
        if row is None or text is None:
            return
        try:
            path = self.app.docker_runner.work_dir.joinpath(row["logPath"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError:
            pass
