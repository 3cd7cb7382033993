"""`make down` (`python -m deployctl down`): tear the demo down, say what was removed; a second run has nothing to remove.

What `make demo` leaves, and how each goes:

* the local stacks (a stack file made from a template in stacks/, its Dokploy the stand-in on loopback):
  `pulumi destroy --remove` each (a promoting stack first: local-prod before local; protect is cleared, the demo
  owns them), which deletes their compose projects in Dokploy (their containers and routes go with them) and
  their Dokploy project, then removes the stack and its stack file (the generated secrets: the next demo makes
  new ones). The stand-in is started for that when it is not running: Dokploy is what removes the containers;
* what the stand-in started here still holds (a compose left by a failed first deploy, a project of a stack
  removed by hand): deleted through its API, then any container or Swarm service of those compose projects still
  on the Docker Engine;
* the stand-in started here (``.state/dokploy/standin.pid``: never another checkout's) is stopped and its state
  (``.state/dokploy``) removed, so the next `make demo` starts from scratch;
* the demo Traefik (``scripts/stop-traefik.sh``: only the container the demo started, by its name and label).

The images stay (`make demo` rebuilds them from cache), and so do the registry's manifests (the pushes keep them
remotely) and the Swarm setup.sh made.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from core.verification import COMPOSE_PROJECT_LABEL
from deployctl import demo, engine, local_stack, operations, target
from dokploy_api import DokployClient, DokployError
from testkit.dokploy import launch

TRAEFIK = engine.PROJECT_DIR / "scripts" / "stop-traefik.sh"
COMPOSE_TYPE = "pulumi-python:dynamic/dokploy:ComposeProject"


def say(line: str) -> None:
    print(f"down: {line}", flush=True)


def local_stacks() -> list[target.Target]:
    """The stacks made from stacks/ whose stack file is here and whose Dokploy is the stand-in; promoting stacks first."""
    found = []
    for template in sorted(local_stack.TEMPLATES.glob("*.yaml")):
        name = template.stem
        if not (engine.PROJECT_DIR / f"Pulumi.{name}.yaml").is_file():
            continue
        where = target.read(name)
        if where.local:
            found.append(where)
    return sorted(found, key=lambda t: not target.stack_config(t.stack).get("bizosaas-deploy:promoteFrom"))


def standin_url(stacks: list[target.Target]) -> str:
    """Where the stand-in of this checkout answers: the one started here, else the local stacks' (stacks/local.yaml)."""
    here = launch.started_here(demo.STANDIN_DIR)
    if here:
        return str(here[1])
    if stacks:
        return stacks[0].url
    return target.read_template("local").url


def compose_projects(stack: str) -> dict[str, str]:
    """catalog name -> Dokploy app name of the stack's compose projects, from its state (before it is destroyed)."""
    resources = (engine.stack(stack).export_stack().deployment or {}).get("resources") or []
    found = [r.get("outputs") or {} for r in resources if r.get("type") == COMPOSE_TYPE]
    return {str(o.get("compose_name")): str(o["app_name"]) for o in found if o.get("app_name")}


def destroy(where: target.Target) -> tuple[int, dict[str, str]]:
    """`pulumi destroy --remove` of one local stack (protection cleared first): (resources deleted, its compose projects)."""
    names = compose_projects(where.stack)
    engine.engine_env()
    subprocess.run(["pulumi", "state", "unprotect", "--all", "--yes", "--stack", where.stack], cwd=engine.PROJECT_DIR,
                   capture_output=True, text=True, check=False)
    result = operations.run(engine.stack(where.stack).destroy, None, color="never", remove=True)
    deleted = sum(n for op, n in (result.summary.resource_changes or {}).items() if op == "delete")
    (engine.PROJECT_DIR / f"Pulumi.{where.stack}.yaml").unlink(missing_ok=True)  # --remove removes it; a leftover would come back
    return deleted, names


def empty_standin(client: DokployClient) -> tuple[list[str], list[str]]:
    """Delete every compose and project the stand-in still holds: (the compose projects' app names, lines saying what went)."""
    apps: list[str] = []
    said: list[str] = []
    for project in client.project.all():
        for env in project.get("environments") or []:
            for compose in env.get("compose") or []:
                row = client.compose.delete(str(compose["composeId"]))
                app = str((row or {}).get("appName") or compose.get("appName") or "")
                apps.append(app)
                said.append(f"deleted compose project {compose.get('name')} ({app}) of Dokploy project {project.get('name')}, "
                            "left in the stand-in")
        client.project.remove(str(project["projectId"]))
        said.append(f"deleted Dokploy project {project.get('name')}, left in the stand-in")
    return apps, said


def docker_leftovers(apps: Iterable[str]) -> list[str]:
    """Containers and Swarm services of these compose projects still on the Docker Engine: removed, named."""
    gone: list[str] = []
    for app in sorted({a for a in apps if a}):
        ps = _docker("ps", "-aq", "--filter", f"label={COMPOSE_PROJECT_LABEL}={app}").split()
        services = _docker("service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={app}").split()
        if ps:
            _docker("rm", "-f", *ps)
            gone.append(f"removed {len(ps)} container(s) of {app} left on the Docker Engine")
        if services:
            _docker("service", "rm", *services)
            gone.append(f"removed {len(services)} Swarm service(s) of {app} left on the Docker Engine")
    return gone


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=120)
    return done.stdout if done.returncode == 0 else ""


def run() -> int:
    """Remove everything the demo made here; print one line per thing removed, or that there is nothing to remove."""
    stacks = local_stacks()
    url = standin_url(stacks)
    state = demo.STANDIN_DIR / "state.json"
    removed: list[str] = []
    apps: list[str] = []
    if (stacks or state.is_file()) and not launch.answers(url):
        demo.start_standin(stacks[0] if stacks else target.read_template("local"))
        say(f"started the Dokploy stand-in on {url} to remove the demo through it")
    for where in stacks:
        try:
            deleted, names = destroy(where)
        except operations.EngineFailed as exc:
            say(f"stack {where.stack}: destroy failed (nothing else removed; `make down` tries again):")
            for problem in exc.problems:
                print(problem)
            return 1
        apps += names.values()
        projects = ", ".join(f"compose project {g} ({a})" for g, a in sorted(names.items())) or "no compose project"
        removed.append(f"destroyed stack {where.stack}: {deleted} resources ({projects}, Dokploy project {where.project}); "
                       f"removed the stack and Pulumi.{where.stack}.yaml")
    ours = launch.started_here(demo.STANDIN_DIR)
    if ours:
        try:
            with DokployClient(url, local_stack.local_dokploy_key(), allow_insecure_http=True) as client:
                left, said = empty_standin(client)
        except DokployError as exc:
            say(f"the stand-in on {url} could not be emptied ({exc}); its containers are removed by label below")
            left, said = [], []
        apps += left
        removed += said
    removed += docker_leftovers(apps)
    stopped = demo.stop_standin()
    if stopped:
        removed.append(f"stopped the Dokploy stand-in on {stopped[1]} (pid {stopped[0]})")
    elif launch.answers(url):
        say(f"a Dokploy stand-in answers on {url} but was not started from {engine.PROJECT_DIR}: left running")
    if demo.STANDIN_DIR.exists():
        shutil.rmtree(demo.STANDIN_DIR, ignore_errors=True)
        removed.append(f"removed the stand-in's state ({_rel(demo.STANDIN_DIR)})")
    for line in removed:
        say(line)
    if TRAEFIK.is_file():  # the demo Traefik: "traefik: removed <name>", or "... is not running" (nothing removed)
        out = subprocess.run(["bash", str(TRAEFIK)], cwd=engine.PROJECT_DIR, capture_output=True, text=True, check=False)
        gone = [line for line in out.stdout.splitlines() if line.startswith("traefik: removed ")]
        for line in gone:
            say(f"removed the demo Traefik ({line.removeprefix('traefik: removed ')})")
        removed += gone
    if not removed:
        say("nothing to remove: no local stack, no Dokploy stand-in started here, nothing of the demo left")
    return 0


def _rel(path: Path) -> str:
    return str(path.relative_to(engine.PROJECT_DIR))
