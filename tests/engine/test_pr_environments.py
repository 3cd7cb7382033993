"""A live environment per pull request, its whole life through `deployctl pr` (what .github/workflows/pr-environment.yml and
pr-environment-sweep.yml run), the real engine and program, the Dokploy stand-in really deploying with Docker, a real Traefik
configured as Dokploy's, the real local registry, and a local stub of GitHub's API (pull request states, comments):

each command in a fresh checkout as a workflow runs it (no stack file left from an earlier run): open (its URLs answer
through Traefik, no host port, the template's resource limits on every container, the PR's comment says what verification
saw) -> push with one image rebuilt (only that image is pushed, only its compose project redeploys) -> a second PR, closed
without its close event: the sweep destroys it and keeps the live one (whose images it shared: only the closed PR's tags go)
-> a PR opened over the cap destroys the oldest environment and tells its PR -> close: nothing is
left in Dokploy (projects, composes, containers, domains), Traefik, the registry (tags) or the state backend.

Reduced to keep it lean (one world for the module): a catalog of two services, one per compose project (brain-api,
thrillring-gaming: it calls brain-api only), its health checked every 2 s instead of 10 s (BIZOSAAS_CATALOG); the shipped
template (stacks/pr.yaml) with this machine's registry, stand-in and Traefik over it, plain-http routes and a short stability
window. Names are this run's: random PR numbers (so containers, hosts and projects never meet another run's), registry
repositories, host names.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from core.pr_env import throwaway_secret
from deployctl import cli, engine, registry_tags
from deployctl.preview import environment
from dokploy_api import DokployClient
from probes import state_backend
from testkit import images
from testkit.dokploy import FakeDokploy
from testkit.github_stub import GitHubStub
from testkit.traefik import Traefik
from tests.engine.test_readme import readme_block
from tests.engine_helpers import REGISTRY, ROOT, sh

pytestmark = pytest.mark.engine
NS = "bizosaas-deploy"
KEEP = ("brain-api", "thrillring-gaming")
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
LIMITS = {"Memory": 256 * 2**20, "NanoCpus": 500_000_000, "PidsLimit": 256}  # stacks/pr.yaml's resourceLimits
UP, LIST, SWEEP, DESTROY = readme_block("pr")  # README's lines, run verbatim


class World:
    def __init__(self, tmp: Path, traefik: Traefik, env: pytest.MonkeyPatch) -> None:
        self.run = secrets.token_hex(3)
        self.key = secrets.token_hex(16)
        self.seed = secrets.token_hex(16)
        first = 10_000 + secrets.randbelow(80_000)
        self.a, self.b, self.c = first, first + 1, first + 2
        self.base = f"{self.run}.pr.bizoholic.test"
        self.traefik = traefik
        self.backend = tmp / "backend"
        self.backend.mkdir()
        self.srv = FakeDokploy(api_keys={self.key}, docker=True, work_dir=tmp / "dokploy", latency=0)
        self.srv.start()
        self.github = GitHubStub(f"bizoholic-digital/prenv-{self.run}", secrets.token_hex(12)).start()
        self.github.pulls.update({self.a: "open", self.b: "open", self.c: "open"})
        self.images = {n: f"prenv-{self.run}/{n}:latest" for n in KEEP}
        for name in KEEP:
            self.build(name, "v1")
        catalog = json.loads(json.dumps(RAW))
        catalog["services"] = {n: {**RAW["services"][n], "local_image": self.images[n]} for n in KEEP}
        catalog["defaults"]["healthcheck"] = {**RAW["defaults"]["healthcheck"], "interval": "2s"}
        (tmp / "catalog.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
        template = yaml.safe_load((ROOT / "stacks" / "pr.yaml").read_text())["config"]
        for key in ("registryUser", "registryPullUser", "registryName"):  # the local registry needs no credentials
            del template[f"{NS}:{key}"]
        template.update({f"{NS}:{k}": v for k, v in {
            "registry": f"{REGISTRY}/prenv-{self.run}", "dokployUrl": self.srv.base_url, "traefikUrl": traefik.web_url,
            "routes": {"https": False, "certificate": "none"}, "healthTimeout": 60, "stabilityWindow": 2, "deployTimeout": 120,
            "pollInterval": 0.25}.items()})
        (tmp / "pr.yaml").write_text(yaml.safe_dump({"config": template}, sort_keys=False))
        for name, value in {
            "PULUMI_BACKEND_URL": self.backend.as_uri(), "BIZOSAAS_CATALOG": str(tmp / "catalog.yaml"), "PR_TEMPLATE": str(tmp / "pr.yaml"),
            "PR_BASE_DOMAIN": self.base, "PR_SECRETS_SEED": self.seed, "DOKPLOY_API_KEY": self.key, **self.github.env(),
        }.items():
            env.setenv(name, value)
        env.delenv("PR_ENVIRONMENT_CAP", raising=False)

    def build(self, name: str, variant: str) -> None:
        spec = RAW["services"][name]
        images.build_image(self.images[name], name, int(spec["port"]), spec["health"], variant=f"{self.run}-{variant}")

    def line(self, line: str, pr: int | None = None) -> str:
        """One README line, verbatim, in a shell in the project directory (``PR`` set to the pull request's number), as a
        workflow runs it: in a fresh checkout, where no stack file of an earlier run is left (they are never committed)."""
        for n in (self.a, self.b, self.c):
            (ROOT / f"Pulumi.pr-{n}.yaml").unlink(missing_ok=True)
        env = {**os.environ, **({"PR": str(pr)} if pr else {})}
        done = subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
        print(f"$ PR={pr} {line}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        assert done.returncode == 0, f"{line} (PR={pr}) failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def host(self, service: str, pr: int) -> str:
        return {"brain-api": "api", "thrillring-gaming": "thrillring"}[service] + f".pr-{pr}.{self.base}"

    def answers(self, service: str, pr: int, status: int = 200) -> str:
        """What the service's route answers on its health path through Traefik, once it answers ``status``."""
        return self.traefik.wait_route(self.host(service, pr), RAW["services"][service]["health"], status=status).text.strip()

    def container(self, service: str, pr: int) -> str:
        return f"{RAW['services'][service]['container_name']}-pr-{pr}"

    def client(self) -> DokployClient:
        return DokployClient(self.srv.base_url, self.key, allow_insecure_http=True)

    def digest(self, service: str, pr: int) -> str:
        return registry_tags.RegistryV2(REGISTRY).digest(f"prenv-{self.run}/{service}", f"pr-{pr}")

    def deployments(self, pr: int) -> dict[str, int]:
        """compose name -> how many deployments Dokploy has of it (project bizosaas-pr-N)."""
        with self.client() as client:
            project = next(p for p in client.project.all() if p["name"] == f"bizosaas-pr-{pr}")
            composes = [c for e in project["environments"] for c in e.get("compose") or []]
            return {c["name"]: len(client.deployment.all_by_compose(c["composeId"])) for c in composes}

    def stack_keys(self, pr: int) -> list[str]:
        """Every object of the file backend that belongs to stack pr-N (its stack file, backups, history)."""
        return [k for k in state_backend.open_backend(self.backend.as_uri()).keys(".pulumi/") if f"/pr-{pr}" in k]

    def assert_gone(self, pr: int) -> None:
        with self.client() as client:
            assert [p["name"] for p in client.project.all() if p["name"] == f"bizosaas-pr-{pr}"] == []
            assert [d["host"] for d in client.overview.domains() if f"pr-{pr}." in d["host"]] == []
        assert sh("docker", "ps", "-a", "--format", "{{.Names}}", "--filter", f"name=-pr-{pr}") == ""
        for service in KEEP:
            assert self.answers(service, pr, 404) == "404 page not found"  # Traefik's own: no router for the host
            assert f"pr-{pr}" not in registry_tags.RegistryV2(REGISTRY).tags(f"prenv-{self.run}/{service}")
        assert f"pr-{pr}" not in state_backend.stack_names(state_backend.open_backend(self.backend.as_uri()), NS)
        assert self.stack_keys(pr) == []
        assert not (ROOT / f"Pulumi.pr-{pr}.yaml").exists()

    def close(self) -> None:
        for pr in (self.a, self.b, self.c):  # whatever a failed test left: destroyed the same way
            if self.stack_keys(pr):
                cli.main(["pr", "destroy", "--pr", str(pr)])
            (ROOT / f"Pulumi.pr-{pr}.yaml").unlink(missing_ok=True)
            images.remove_containers(f"-pr-{pr}")
        self.srv.stop()
        self.github.stop()
        reg = registry_tags.RegistryV2(REGISTRY)
        for service in KEEP:
            for tag in reg.tags(f"prenv-{self.run}/{service}"):
                registry_tags.delete_tag(reg, f"prenv-{self.run}/{service}", tag)
        pushed = sh("docker", "images", "-q", "--filter", f"reference={REGISTRY}/prenv-{self.run}/*").split()
        subprocess.run(["docker", "rmi", "-f", *self.images.values(), *sorted(set(pushed))], capture_output=True, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, traefik: Traefik) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as env:
        w = World(tmp_path_factory.mktemp("prenv"), traefik, env)
        try:
            yield w
        finally:
            w.close()


def section(world: World, pr: int) -> str:
    [body] = [b for b in world.github.comments_on(pr) if b.startswith(environment.PREVIEW_MARKER)]
    return environment.section_of(body)


def test_open_deploys_the_pr_and_its_urls_answer_through_traefik(world: World) -> None:
    assert UP.startswith('venv/bin/python -m deployctl pr up --pr "$PR"')
    world.line(UP, world.a)
    for service in KEEP:
        assert world.answers(service, world.a)
        name = world.container(service, world.a)
        assert sh("docker", "port", name) == ""  # no host port: reached through its route
        config = json.loads(sh("docker", "inspect", "-f", "{{json .HostConfig}}", name))
        assert {k: config[k] for k in LIMITS} == LIMITS  # the template's resourceLimits, applied by docker compose
        assert world.digest(service, world.a).startswith("sha256:")  # pushed under the PR's tag
    assert sorted(world.deployments(world.a)) == ["backend", "frontend"]  # its own Dokploy project
    text = section(world, world.a)
    assert f"### PR environment `pr-{world.a}`: verified" in text and "pushed `brain-api`, `thrillring-gaming`" in text
    assert f"| `brain-api` | http://{world.host('brain-api', world.a)} | healthy, 0 restarts; route answered HTTP 200" in text
    stack_file = (ROOT / f"Pulumi.pr-{world.a}.yaml").read_text()
    assert throwaway_secret(world.seed, f"pr-{world.a}", "JWT_SECRET") not in stack_file and f"{NS}:secrets:\n    secure: v1:" in stack_file


def test_a_push_that_rebuilt_one_image_pushes_and_redeploys_only_that_one(world: World) -> None:
    before = {s: world.digest(s, world.a) for s in KEEP}
    deployed = world.deployments(world.a)
    frontend_id = sh("docker", "inspect", "-f", "{{.Id}}", world.container("thrillring-gaming", world.a))
    world.build("brain-api", "v2")
    world.line(UP, world.a)
    assert world.digest("brain-api", world.a) != before["brain-api"]
    assert world.digest("thrillring-gaming", world.a) == before["thrillring-gaming"]
    assert world.deployments(world.a) == {"backend": deployed["backend"] + 1, "frontend": deployed["frontend"]}
    assert sh("docker", "inspect", "-f", "{{.Id}}", world.container("thrillring-gaming", world.a)) == frontend_id
    assert "; pushed `brain-api`." in section(world, world.a)
    assert world.answers("brain-api", world.a)


def test_the_sweep_destroys_a_closed_prs_environment_and_keeps_a_live_one(world: World) -> None:
    world.line(UP, world.b)  # the same images as pr-a: their digests carry both PRs' tags
    shared = {s: world.digest(s, world.a) for s in KEEP}
    assert {s: world.digest(s, world.b) for s in KEEP} == shared
    listed = [row.split()[0] for row in world.line(LIST).splitlines()]
    assert listed == [f"pr-{world.a}", f"pr-{world.b}"]  # oldest first
    world.github.pulls[world.b] = "closed"  # closed without its close event reaching the workflow
    out = world.line(SWEEP)
    assert f"pr-{world.a}: kept: pull request #{world.a} is open" in out
    world.assert_gone(world.b)
    assert "Destroyed by the daily sweep: the pull request is closed" in section(world, world.b)
    assert {s: world.digest(s, world.a) for s in KEEP} == shared  # the live one's tags and images are untouched
    assert world.answers("brain-api", world.a)
    assert "Destroyed" not in section(world, world.a)


def test_opening_one_more_than_the_cap_destroys_the_oldest_and_tells_its_pr(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PR_ENVIRONMENT_CAP", "1")
    out = world.line(UP, world.c)
    assert f"1 PR environments run, at most 1: destroying the oldest, pr-{world.a}, to make room for pr-{world.c}" in out
    world.assert_gone(world.a)
    told = [b for b in world.github.comments_on(world.a) if not b.startswith(environment.PREVIEW_MARKER)]
    assert len(told) == 1 and f"The PR environment `pr-{world.a}` was destroyed. Destroyed to make room for #{world.c}" in told[0]
    assert "at most 1 PR environments run at once" in section(world, world.a)
    assert world.answers("thrillring-gaming", world.c)


def test_close_leaves_nothing_in_dokploy_traefik_the_registry_or_the_state_backend(world: World) -> None:
    world.line(DESTROY, world.c)
    world.assert_gone(world.c)
    assert "### PR environment" in section(world, world.c) and "destroyed" in section(world, world.c)
    with world.client() as client:
        assert client.project.all() == []
    for service in KEEP:
        assert registry_tags.RegistryV2(REGISTRY).tags(f"prenv-{world.run}/{service}") == []
    assert [k for k in state_backend.open_backend(world.backend.as_uri()).keys(".pulumi/") if "/pr-" in k] == []
    assert engine.PROJECT_DIR == ROOT
