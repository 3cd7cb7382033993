"""What this project relies on Dokploy to do, through the real engine, against every target (see conftest).

One stack per target, the tests in order: first up (one project, one environment, two composes
done, the composes created in parallel, each verified through Dokploy's API: its container seen
running the image deployed), no-op up, a compose edited in Dokploy, a compose whose first deploy
failed adopted by the next up, a compose whose container crash-loops after a `done` deploy failing
verification (and, rollback off, repaired by the next plain up once the config is reverted), a route (a Dokploy
domain) created and deployed and answering through Traefik, the domain edited in Dokploy seen by refresh and restored
by up, destroy (composes, containers, domains, project).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from components.compose_project import ComposeProject, ComposeProjectArgs
from components.dokploy_project import DokployProject, DokployProjectArgs
from core.verification import digest_of
from deployctl import status as status_cmd
from deployctl import target as deploy_target
from tests.conformance.conftest import InlineStack, Target, inline_stack

pytestmark = pytest.mark.engine
BROKEN_IMAGE = "127.0.0.1:1/conformance/missing@sha256:" + "0" * 64  # no registry listens there: the pull fails


CRASH = '["/bin/sh", "-c", "echo starting; sleep 2; echo crashing; exit 1"]'  # up for 2 s, then a crash loop
WINDOW = 4.0


def compose_file(target: Target, name: str, image: str, command: str | None = None) -> str:
    return (
        f"services:\n  {name}:\n    image: {image}\n    container_name: conformance-{target.run}-{name}\n"
        + (f"    command: {command}\n" if command else "")
        + "    restart: unless-stopped\n    environment:\n      TOKEN: ${CONFORMANCE_TOKEN}\n"
        "    networks: [dokploy-network]\nnetworks:\n  dokploy-network:\n    external: true\n"
    )


class Suite(InlineStack):
    """The stack under test and the knobs the tests turn."""

    kind = "suite"

    def __init__(self, target: Target, work: Path) -> None:
        super().__init__(target, work)  # refresh and destroy read the key from the stack config (never in the state)
        self.token = secrets.token_hex(12)
        self.images = {"backend": target.image, "frontend": target.image}
        self.commands: dict[str, str] = {}
        self.routes: dict[str, dict[str, dict[str, Any]]] = {}
        """compose -> service -> its route (core.routes.inputs)."""
        self.route_check: dict[str, Any] | None = None
        """What the backend's route answered through Traefik at the up that made it."""

    def program(self) -> None:
        t = self.target
        project = DokployProject("project", DokployProjectArgs(t.url, t.project_name, allow_insecure_http=t.standin is not None))
        for name, image in self.images.items():
            compose = ComposeProject(
                name,
                ComposeProjectArgs(
                    dokploy_url=t.url,
                    project_name=t.project_name,
                    environment_name="production",
                    project_id=project.project_id,
                    environment_id=project.environment_id,
                    compose_name=name,
                    compose_file=compose_file(t, name, image, self.commands.get(name)),
                    env=pulumi.Output.secret(f"CONFORMANCE_TOKEN='{self.token}'\n"),
                    services={name: {"image": image}},
                    health_urls={},
                    deploy_timeout=240.0,
                    poll_interval=0.5,
                    health_timeout=60.0,
                    stability_window=WINDOW,
                    allow_insecure_http=t.standin is not None,
                    routes=self.routes.get(name, {}),
                    traefik={"web": t.traefik_url, "websecure": "https://127.0.0.1:1"} if t.traefik_url else {},
                ),
            )
            pulumi.export(f"verification_{name}", compose.verification)

    def projects(self) -> list[dict[str, Any]]:
        with self.target.client() as client:
            return [p for p in client.project.all() if p.get("name") == self.target.project_name]

    def composes(self) -> list[dict[str, Any]]:
        return [c for p in self.projects() for e in p.get("environments") or [] for c in e.get("compose") or []]

    def deployment_ids(self) -> set[str]:
        with self.target.client() as client:
            return {d["deploymentId"] for c in self.composes() for d in client.deployment.all_by_compose(c["composeId"])}

    def containers(self) -> list[str]:
        if self.target.standin is None:
            with self.target.client() as client:
                apps = [c.get("appName") for c in self.composes()]
                return [str(row) for app in apps if app for row in client.query("docker.getContainersByAppNameMatch", appName=app)]
        out = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True, check=True).stdout
        return [n for n in out.split() if n.startswith(f"conformance-{self.target.run}-")]


@pytest.fixture(scope="module")
def suite(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with inline_stack(Suite, target, tmp_path_factory) as s:
        yield s


def changes(result: auto.UpResult | auto.RefreshResult) -> dict[str, int]:
    return {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}


def test_first_up_creates_one_project_one_environment_and_two_composes_done(suite: Suite) -> None:
    result = suite.stack.up(color="never")
    assert changes(result) == {"create": 4}  # the stack, the project, two composes (created in parallel)
    [project] = suite.projects()
    assert [e["name"] for e in project["environments"]] == ["production"]
    composes = suite.composes()
    assert sorted(c["name"] for c in composes) == ["backend", "frontend"]
    assert {c["composeStatus"] for c in composes} == {"done"}
    for name in ("backend", "frontend"):  # what Dokploy's API reports runs: the image deployed, up for the whole window
        record = result.outputs[f"verification_{name}"].value
        assert record == {name: {"digest": digest_of(suite.target.image), "image": suite.target.image, "health": "none", "restarts": 0,
                                 "replicas": 1, "window_s": WINDOW, "containers": [f"conformance-{suite.target.run}-{name}"]}}


def test_what_runs_and_its_log_are_read_through_dokploys_api(suite: Suite) -> None:
    """What `deployctl status` and `deployctl logs` rely on: the stack's composes found by project and environment name, each one's
    containers listed and inspected (image, running, StartedAt), and compose.readLogs giving a container's log with Docker's
    timestamps, the last `tail` lines, `since` a duration."""
    t = suite.target
    where = deploy_target.Target(suite.stack.name, t.url, t.project_name, "production", allow_insecure_http=t.standin is not None)
    with suite.target.client() as client:
        rows = status_cmd.composes(client, where)
        assert sorted(r["name"] for r in rows) == ["backend", "frontend"]
        for row in rows:
            seen = status_cmd.view(client, row, {})
            [c] = seen.containers
            assert (c.name, c.state, digest_of(c.image)) == (f"conformance-{suite.target.run}-{row['name']}", "running",
                                                            digest_of(suite.target.image))
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", c.started_at), c.started_at
            stamped = r"^\d{4}-\d\d-\d\dT[\d:.]+Z "
            last = client.compose.read_logs(row["composeId"], c.id, tail=1, since="24h").splitlines()
            assert len(last) == 1 and re.match(stamped, last[0]), last
            every = client.compose.read_logs(row["composeId"], c.id, tail=10000, since="all").splitlines()
            assert every and every[-1] == last[0] and all(re.match(stamped, line) for line in every), every


def test_a_noop_up_writes_nothing_and_deploys_nothing(suite: Suite) -> None:
    before = suite.deployment_ids()
    if suite.target.standin:
        suite.target.standin.reset_calls()
    result = suite.stack.up(color="never")
    assert changes(result) == {}
    assert suite.deployment_ids() == before
    if suite.target.standin:
        assert suite.target.standin.write_calls == 0, suite.target.standin.calls


def test_a_compose_file_edited_in_dokploy_is_reported_by_refresh_and_restored_by_up(suite: Suite) -> None:
    [backend] = [c for c in suite.composes() if c["name"] == "backend"]
    with suite.target.client() as client:
        ours = client.compose.one(backend["composeId"])["composeFile"]
        client.compose.update(backend["composeId"], composeFile=ours + "# edited in the Dokploy UI\n")
    refreshed = suite.stack.refresh(color="never")
    assert changes(refreshed) == {"update": 1}, refreshed.stdout
    result = suite.stack.up(color="never")
    assert changes(result) == {"update": 1}
    with suite.target.client() as client:
        assert client.compose.one(backend["composeId"])["composeFile"] == ours


def test_a_compose_whose_first_deploy_failed_is_adopted_by_the_next_up(suite: Suite) -> None:
    suite.images["worker"] = BROKEN_IMAGE  # a new compose whose image cannot be pulled
    with pytest.raises(auto.CommandError, match="ended 'error'"):
        suite.stack.up(color="never")
    [failed] = [c for c in suite.composes() if c["name"] == "worker"]
    assert failed["composeStatus"] == "error"
    suite.images["worker"] = suite.target.image
    result = suite.stack.up(color="never")
    assert changes(result) == {"create": 1}
    workers = [c for c in suite.composes() if c["name"] == "worker"]
    assert [(c["composeId"], c["composeStatus"]) for c in workers] == [(failed["composeId"], "done")]  # adopted, not duplicated


def test_a_container_that_crash_loops_after_a_done_deploy_fails_verification_naming_it(suite: Suite) -> None:
    suite.commands["frontend"] = CRASH
    with pytest.raises(auto.CommandError) as err:
        suite.stack.up(color="never")
    text = str(err.value)
    [frontend] = [c for c in suite.composes() if c["name"] == "frontend"]
    assert frontend["composeStatus"] == "done"  # Dokploy says the deploy went well (Dokploy issue #4339) ...
    name = f"conformance-{suite.target.run}-frontend"
    assert re.search(rf"frontend: expected [^;]*(running|RestartCount)[^;]*; saw [^;]*{name}", text), text
    assert f"last log lines of {name}:" in text and "crashing" in text  # ... its own API shows the crash and the log
    del suite.commands["frontend"]
    # the failed update kept the old state and rollback is off, so Dokploy runs the crashing file while the reverted
    # inputs match the state: the plain `up` a user types (no --refresh) sees it through Dokploy's API and repairs it
    with suite.target.client() as client:
        assert "crashing" in client.compose.one(frontend["composeId"])["composeFile"]
    result = suite.stack.up(color="never")
    assert changes(result) == {"update": 1}, result.stdout
    with suite.target.client() as client:
        assert "crashing" not in client.compose.one(frontend["composeId"])["composeFile"]
    assert result.outputs["verification_frontend"].value["frontend"]["restarts"] == 0


def route_host(suite: Suite) -> str:
    return f"conformance-{suite.target.run}.invalid"  # never resolved: the route is asked at Traefik with this host name


def backend_domains(suite: Suite) -> list[dict[str, Any]]:
    [backend] = [c for c in suite.composes() if c["name"] == "backend"]
    with suite.target.client() as client:
        return client.domain.by_compose_id(backend["composeId"])


def test_a_route_becomes_a_domain_before_one_redeploy(suite: Suite) -> None:
    t = suite.target
    route = {"host": route_host(suite), "path": "/", "port": t.port, "https": False, "certificate": "none", "cert_resolver": "",
             "health": t.health}
    suite.routes["backend"] = {"backend": route}
    before = suite.deployment_ids()
    result = suite.stack.up(color="never")
    assert changes(result) == {"update": 1}  # a route alone: the domain, then one redeploy (Dokploy writes the labels then)
    assert len(suite.deployment_ids() - before) == 1
    [domain] = backend_domains(suite)
    assert (domain["host"], domain["serviceName"], domain["port"], domain["https"]) == (route_host(suite), "backend", t.port, False)
    suite.route_check = result.outputs["verification_backend"].value["backend"].get("route")


def test_the_route_answers_through_traefik(suite: Suite) -> None:
    t = suite.target
    if not t.traefik_url:
        why = "Traefik is not installed here (scripts/install-traefik.sh)" if t.standin else (
            "no Traefik to ask: set DOKPLOY_TRAEFIK_URL (the web entrypoint of the Dokploy host's Traefik, http://<host>)")
        if os.environ.get("CI") and t.standin:
            pytest.fail(why)
        pytest.skip(why)
    assert suite.route_check == {"url": f"http://{route_host(suite)}{t.health}", "through": t.traefik_url, "status": 200,
                                 "seconds": (suite.route_check or {}).get("seconds")}


def test_a_domain_edited_in_dokploy_is_reported_by_refresh_and_restored_by_up(suite: Suite) -> None:
    [domain] = backend_domains(suite)
    with suite.target.client() as client:
        client.domain.update({"domainId": domain["domainId"], "host": f"edited-{route_host(suite)}", "port": 9})
    refreshed = suite.stack.refresh(color="never")
    assert changes(refreshed) == {"update": 1}, refreshed.stdout
    assert changes(suite.stack.up(color="never")) == {"update": 1}
    [restored] = backend_domains(suite)
    assert (restored["domainId"], restored["host"], restored["port"]) == (domain["domainId"], route_host(suite), suite.target.port)


def test_destroy_leaves_no_compose_no_container_and_no_project_it_created(suite: Suite) -> None:
    suite.stack.destroy(color="never")
    assert suite.composes() == []
    assert suite.projects() == []
    assert suite.containers() == []
    with suite.target.client() as client:  # Dokploy deleted the compose's domains with it
        assert [d for d in client.overview.domains() if d.get("projectName") == suite.target.project_name] == []
