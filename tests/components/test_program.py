"""The program under pulumi mocks: what it declares, what it pins, what it exports, what it hides."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from tests.catalog_helpers import STACK_ENV, fake_digest

SECRET_VALUES = {
    "DATABASE_URL": "postgresql://u:pw-0xDEADBEEF-db@db:5432/x",
    "REDIS_BASE_URL": "redis://:pw-0xDEADBEEF-redis@redis:6379",
    "OPENAI_API_KEY": "sk-0xDEADBEEF-openai",
    "SECRET_KEY": "0xDEADBEEF-django",
    "JWT_SECRET": "0xDEADBEEF-jwt",
    "AMAZON_ACCESS_KEY": "AKIA0xDEADBEEF",
    "AMAZON_SECRET_KEY": "0xDEADBEEF-aws",
}
API_KEY = "0xDEADBEEF-dokploy-key"
REGISTRY_TOKEN = "ghp_0xDEADBEEF-push"
PULL_TOKEN = "ghp_0xDEADBEEF-pull"
SECRET_SIG, SECRET_MARK = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
RAW_SERVICES = list(yaml.safe_load((Path(__file__).resolve().parents[2] / "catalog.yaml").read_text())["services"])
ALL_SECRETS = [*SECRET_VALUES.values(), API_KEY, REGISTRY_TOKEN, PULL_TOKEN]


class Mocks(pulumi.runtime.Mocks):
    """Realistic computed outputs: the registry digest per pushed image, Dokploy ids per compose."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.seen: dict[str, str] = {}
        """service -> the image reference a ComposeProject's verification reports running (none: nothing verified)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        outs = dict(args.inputs)
        if args.typ == "docker:index/registryImage:RegistryImage":
            service = args.inputs["name"].rsplit("/", 1)[1].split(":")[0]
            outs["sha256Digest"] = fake_digest(service)
        elif args.typ == "docker:index/tag:Tag":
            outs["sourceImageId"] = "sha256:" + "1" * 64
        elif args.typ == "pulumi:pulumi:StackReference":  # staging's verified release, for a promoting stack
            manifest = {n: f"ghcr.io/bizoholic-digital/bizosaas-platform/{n}@{fake_digest(n)}" for n in RAW_SERVICES}
            outs = {"name": args.inputs.get("name"), "outputs": {"release_manifest": manifest, "verified": True}}
        elif args.typ.startswith("pulumi-python:dynamic"):
            outs.update({"compose_id": f"cmp-{args.name}", "healthy": True, "registry_id": "reg-1"})
            services = args.inputs.get("services") or {}
            outs["verification"] = {n: {"digest": self.seen[n].split("@", 1)[1], "health": "healthy"} for n in services if n in self.seen}
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def stack_config() -> tuple[dict[str, str], list[str]]:
    cfg = {
        "bizosaas-deploy:registry": "ghcr.io/bizoholic-digital/bizosaas-platform",
        "bizosaas-deploy:tag": "staging",
        "bizosaas-deploy:containerSuffix": "staging",
        "bizosaas-deploy:registryUser": "bizoholic-digital",
        "bizosaas-deploy:registryToken": REGISTRY_TOKEN,
        "bizosaas-deploy:registryPullUser": "bizoholic-digital",
        "bizosaas-deploy:registryPullToken": PULL_TOKEN,
        "bizosaas-deploy:dokployUrl": "https://dokploy.example.test",
        "bizosaas-deploy:dokployApiKey": API_KEY,
        "bizosaas-deploy:healthUrl": "https://staging.example.test:{published}{path}",
        "bizosaas-deploy:services": json.dumps({"brain-api": {"published": True}, "auth-service": {"published": True}}),
        "bizosaas-deploy:domain": "staging.example.test",
        "bizosaas-deploy:env": json.dumps(STACK_ENV),
        "bizosaas-deploy:secrets": json.dumps(SECRET_VALUES),
    }
    return cfg, [
        "bizosaas-deploy:registryToken",
        "bizosaas-deploy:registryPullToken",
        "bizosaas-deploy:dokployApiKey",
        "bizosaas-deploy:secrets",
    ]


def checked_config() -> list[str]:
    """What components.stack_config.check says of the test config (nothing: it is complete)."""
    from components.stack_config import check

    cfg, secret_keys = stack_config()
    problems = check("staging", cfg, set(secret_keys), None, environ={})
    assert problems == []
    return problems


def image_inspector(image: str) -> dict[str, Any]:
    from components.program import CATALOG_FILE
    from core.catalog import load_catalog_file

    port = next(s["port"] for s in load_catalog_file(CATALOG_FILE)["services"].values() if s["local_image"] == image)
    return {"Id": "sha256:" + "1" * 64, "Config": {"ExposedPorts": {f"{port}/tcp": {}}}}


@pytest.fixture
def mocks() -> Mocks:
    m = Mocks()
    asyncio.set_event_loop(asyncio.new_event_loop())  # engine tests before this one may have closed the loop
    pulumi.runtime.set_mocks(m, project="bizosaas-deploy", stack="staging", preview=False)
    cfg, secret_keys = stack_config()
    pulumi.runtime.set_all_config(cfg, secret_keys)
    return m


@pulumi.runtime.test
def test_program_declares_14_tags_14_pushes_two_compose_projects(mocks: Mocks) -> Any:
    from components.program import build

    outputs = build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=checked_config())

    def check(args: list[Any]) -> None:
        manifest, compose, _ids = args
        by_type: dict[str, list[str]] = {}
        for r in mocks.resources:
            by_type.setdefault(r.typ, []).append(r.name)
        assert len(by_type["docker:index/tag:Tag"]) == 14
        assert len(by_type["docker:index/registryImage:RegistryImage"]) == 14
        assert len(by_type["bizosaas:index:ServiceImage"]) == 14
        assert sorted(by_type["pulumi-python:dynamic/dokploy:ComposeProject"]) == ["backend", "frontend"]
        tags = {r.inputs["targetImage"] for r in mocks.resources if r.typ == "docker:index/tag:Tag"}
        assert "ghcr.io/bizoholic-digital/bizosaas-platform/brain-api:staging" in tags
        pushes = [r for r in mocks.resources if r.typ == "docker:index/registryImage:RegistryImage"]
        assert all(r.inputs["keepRemotely"] is True for r in pushes)
        assert manifest["brain-api"] == f"ghcr.io/bizoholic-digital/bizosaas-platform/brain-api@{fake_digest('brain-api')}"
        backend = yaml.safe_load(compose["backend"])
        assert len(backend["services"]) == 8
        for name, svc in backend["services"].items():
            assert svc["image"].endswith("@" + fake_digest(name)), name
        assert len(yaml.safe_load(compose["frontend"])["services"]) == 6

    return pulumi.Output.all(outputs["release_manifest"], outputs["compose"], outputs["compose_project_ids"]).apply(check)


@pulumi.runtime.test
def test_no_secret_value_in_compose_outputs_or_plain_inputs(mocks: Mocks) -> Any:
    from components.program import build

    outputs = build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=checked_config())

    def check(exported: Any) -> None:
        text = json.dumps(exported)
        leaked = [s for s in ALL_SECRETS if s in text]
        assert leaked == [], f"secret values in exported outputs: {len(leaked)}"
        for r in mocks.resources:
            if r.typ.startswith("pulumi-python:dynamic"):
                compose_file = r.inputs.get("compose_file", "")
                services = json.dumps(r.inputs.get("services", {}))
                assert not [s for s in ALL_SECRETS if s in compose_file or s in services], r.name

    return pulumi.Output.from_input(dict(outputs)).apply(check)


@pulumi.runtime.test
def test_compose_project_gets_the_env_text_as_a_secret_input(mocks: Mocks) -> Any:
    from components.program import build

    outputs = build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=checked_config())

    def check(_: Any) -> None:
        backend = next(r for r in mocks.resources if r.name == "backend")
        env = backend.inputs["env"]
        assert env.get(SECRET_SIG) == SECRET_MARK, "the env text must reach the provider as a secret"
        assert f"JWT_SECRET='{SECRET_VALUES['JWT_SECRET']}'" in env["value"]
        assert "api_key" not in backend.inputs  # read by the provider from the stack config: never in the state
        assert backend.inputs["health_urls"]["brain-api"] == "https://staging.example.test:8001/health"
        assert backend.inputs["services"]["auth-service"]["ports"] == ["127.0.0.1:8006:8007"]
        assert backend.inputs["services"]["auth-service"]["env"]["JWT_SECRET"] == "<secret>"

    return pulumi.Output.from_input(outputs["compose_project_ids"]).apply(check)


def test_missing_local_image_fails_before_any_resource(mocks: Mocks) -> None:
    from components.program import build
    from core.catalog import CatalogError

    with pytest.raises(CatalogError, match="image bizosaas-brain-gateway:latest does not exist"):
        build("staging", pulumi.Config("bizosaas-deploy"), inspect=lambda image: None, config_problems=checked_config())
    assert not [r for r in mocks.resources if r.typ.startswith("docker:")]


def test_config_catalog_and_image_problems_are_reported_together_before_any_resource(mocks: Mocks) -> None:
    from components.program import build
    from core.catalog import CatalogError

    config_problem = "stack staging: bizosaas-deploy:dokployApiKey: is required: `pulumi config set --secret dokployApiKey <value>`"
    port_problem = "stack staging: bizosaas-deploy:services/brain-api/published: 70000 should be a port number in 1-65535"
    pulumi.runtime.set_config("bizosaas-deploy:services", json.dumps({"brain-api": {"published": 70000}}))
    with pytest.raises(CatalogError) as info:  # the config check (schema) says the port problem too: it is listed once
        build("staging", pulumi.Config("bizosaas-deploy"), inspect=lambda image: None, config_problems=[config_problem, port_problem])
    lines = info.value.problems
    assert lines[0] == config_problem
    assert lines.count(port_problem) == 1
    assert mocks.resources == []


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock monitor, keeping every RegisterResource request (they carry the resource options)."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.requests: list[Any] = []

    def RegisterResource(self, request: Any) -> Any:
        self.requests.append(request)
        return super().RegisterResource(request)


@pytest.mark.parametrize(("protect", "expected"), [(None, True), ("false", False)])
def test_a_promoted_stack_protects_its_dokploy_project_and_compose_projects(mocks: Mocks, protect: str | None, expected: bool) -> None:
    from components.program import build

    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="bizosaas-deploy", stack="prod", preview=False, monitor=monitor)
    cfg, secret_keys = stack_config()
    pulumi.runtime.set_all_config(cfg, secret_keys)
    pulumi.runtime.set_config("bizosaas-deploy:promoteFrom", "organization/bizosaas-deploy/staging")
    if protect is not None:
        pulumi.runtime.set_config("bizosaas-deploy:protect", protect)

    @pulumi.runtime.test
    def declare() -> Any:
        outputs = build("prod", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=[])
        return outputs["promoted_from"]

    declare()
    protected = {r.name: r.protect for r in monitor.requests if r.type.startswith("pulumi-python:dynamic/dokploy:")}
    assert protected == {"project": expected, "registry": False, "backend": expected, "frontend": expected}


# --- the pre-push test gate -----------------------------------------------------------------------


def _gate_requests(stack: str, config: dict[str, str], warnings: list[str], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The RegisterResource requests of one program run with extra config, and the warnings it logged."""
    from components.program import build

    mocks = Mocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="bizosaas-deploy", stack=stack, preview=False, monitor=monitor)
    cfg, secret_keys = stack_config()
    pulumi.runtime.set_all_config({**cfg, **config}, secret_keys)
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **kw: warnings.append(msg))

    @pulumi.runtime.test
    def declare() -> Any:
        return build(stack, pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=[])["release_id"]

    declare()
    return monitor.requests


def test_every_pushed_image_waits_for_its_own_test_by_default(mocks: Mocks, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    requests = _gate_requests("staging", {}, warnings, monkeypatch)
    commands = {r.name: r for r in requests if r.type == "command:local:Command"}
    assert sorted(commands) == sorted(f"{n}-test" for n in RAW_SERVICES)
    urn_of = {r.name: next(q for q in requests if q.name == r.name).parent for r in requests if r.type == "command:local:Command"}
    assert all(p.endswith(f"bizosaas:index:ServiceTest::{n.removesuffix('-test')}") for n, p in urn_of.items())
    tags = {r.name.removesuffix("-tag"): r for r in requests if r.type == "docker:index/tag:Tag"}
    for name, tag in tags.items():
        [dependency] = [d for d in tag.dependencies if "command:local:Command" in d]
        assert dependency.endswith(f"::{name}-test"), (name, list(tag.dependencies))
    inputs = pulumi.runtime.rpc.deserialize_properties(commands["auth-service-test"].object)
    assert json.loads(inputs["environment"]["BIZOSAAS_TEST_ENV"]) == {"PORT": "8007"}  # no secret, no stack value
    assert "--port 8007 --health /health --timeout 120" in inputs["create"]
    assert not [s for s in ALL_SECRETS if s in json.dumps([pulumi.runtime.rpc.deserialize_properties(c.object) for c in commands.values()])]
    assert warnings == []


def test_test_gate_false_pushes_untested_and_says_so(mocks: Mocks, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    requests = _gate_requests("staging", {"bizosaas-deploy:testGate": "false"}, warnings, monkeypatch)
    assert not [r for r in requests if r.type in ("command:local:Command", "bizosaas:index:ServiceTest")]
    assert len([r for r in requests if r.type == "docker:index/tag:Tag"]) == 14
    assert [w for w in warnings if "testGate is false: the images are pushed WITHOUT their pre-push test" in w] == [warnings[0]]


def test_test_timeout_reaches_every_command(mocks: Mocks, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = _gate_requests("staging", {"bizosaas-deploy:testTimeout": "30"}, [], monkeypatch)
    commands = [r for r in requests if r.type == "command:local:Command"]
    lines = [pulumi.runtime.rpc.deserialize_properties(c.object)["create"] for c in commands]
    assert len(lines) == 14 and all(line.endswith(" --timeout 30") for line in lines), lines[0]
    assert {c.customTimeouts.create for c in commands} == {"360s"}


@pytest.mark.parametrize("config", [
    {"bizosaas-deploy:promoteFrom": "organization/bizosaas-deploy/staging", "bizosaas-deploy:testGate": "true"},
    {"bizosaas-deploy:pinnedRelease": json.dumps({n: f"ghcr.io/bizoholic-digital/bizosaas-platform/{n}@{fake_digest(n)}"
                                                  for n in RAW_SERVICES})},
], ids=["promoted", "pinned"])
def test_stacks_that_push_nothing_run_no_test(mocks: Mocks, monkeypatch: pytest.MonkeyPatch, config: dict[str, str]) -> None:
    requests = _gate_requests("prod", config, [], monkeypatch)
    assert not [r for r in requests if r.type.startswith(("command:", "docker:", "bizosaas:index:ServiceTest"))]


@pytest.mark.parametrize(("seen", "verified"), [("release", True), ("older", False), ("partly", False), ("nothing", False)])
def test_verified_means_every_service_was_seen_running_this_release(mocks: Mocks, seen: str, verified: bool) -> None:
    from components.program import build

    repo = "ghcr.io/bizoholic-digital/bizosaas-platform"
    if seen in ("release", "partly", "older"):
        mocks.seen = {n: f"{repo}/{n}@{fake_digest(n)}" for n in RAW_SERVICES}
    if seen == "older":
        mocks.seen["admin-dashboard"] = f"{repo}/admin-dashboard@{fake_digest('an older build')}"
    if seen == "partly":
        del mocks.seen["brain-api"]

    @pulumi.runtime.test
    def declare() -> Any:
        outputs = build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=checked_config())

        def check(args: list[Any]) -> None:
            records, is_verified = args
            assert is_verified is verified
            assert set(records) == set(mocks.seen)  # both compose projects' records, merged
            assert all(r["digest"].startswith("sha256:") for r in records.values())

        return pulumi.Output.all(outputs["verification"], outputs["verified"]).apply(check)

    declare()


# --- placement: compose or stack mode, on Dokploy's host or one of its servers --------------------------

SERVERS = [{"serverId": "srv-edge-2", "name": "edge-2"}, {"serverId": "srv-edge-1", "name": "edge-1"}]
PLACED = {"bizosaas-deploy:composeProjects": json.dumps({"backend": {"mode": "stack", "server": "edge-1"}}),
          "bizosaas-deploy:stabilityWindow": "40"}


def _placed(config: dict[str, str], warnings: list[str], monkeypatch: pytest.MonkeyPatch, servers: Any = None,
            preview: bool = False) -> dict[str, dict[str, Any]]:
    """The dynamic resources' inputs of one program run, by name."""
    from components.program import build

    mocks = Mocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="bizosaas-deploy", stack="staging", preview=preview, monitor=monitor)
    cfg, secret_keys = stack_config()
    pulumi.runtime.set_all_config({**cfg, **config}, secret_keys)
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **kw: warnings.append(msg))

    @pulumi.runtime.test
    def declare() -> Any:
        return build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=[], list_servers=servers)[
            "release_id"]

    declare()
    return {r.name: pulumi.runtime.rpc.deserialize_properties(r.object) for r in monitor.requests
            if r.type.startswith("pulumi-python:dynamic/dokploy:")}


def test_a_project_in_stack_mode_on_a_server_gets_its_type_and_resolved_server(mocks: Mocks, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    asked: list[int] = []
    inputs = _placed(PLACED, warnings, monkeypatch, lambda: asked.append(1) or SERVERS)
    backend, frontend, registry = inputs["backend"], inputs["frontend"], inputs["registry"]
    assert (backend["compose_type"], backend["server_name"], backend["server_id"]) == ("stack", "edge-1", "srv-edge-1")
    assert (frontend["compose_type"], frontend["server_name"], frontend["server_id"]) == ("docker-compose", "", "")
    assert (registry["servers"], registry["on_host"]) == ({"edge-1": "srv-edge-1"}, True)  # the frontend still pulls on the host
    assert asked == [1] and warnings == []
    compose = yaml.safe_load(backend["compose_file"])
    assert "container_name" not in compose["services"]["ai-agents"] and compose["services"]["brain-api"]["deploy"]["replicas"] == 2
    assert backend["services"]["brain-api"]["ports"] == ["*:8001:8001 (ingress)"]


def test_unknown_or_ambiguous_servers_fail_before_any_resource(mocks: Mocks) -> None:
    from components.program import build
    from core.catalog import CatalogError

    projects = {"backend": {"mode": "stack", "server": "edge-9"}, "frontend": {"server": "edge-1"}}
    pulumi.runtime.set_config("bizosaas-deploy:composeProjects", json.dumps(projects))
    twice = [*SERVERS, {"serverId": "srv-edge-1b", "name": "edge-1"}]
    with pytest.raises(CatalogError) as info:
        build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=[], list_servers=lambda: twice)
    assert info.value.problems == [
        "stack staging: bizosaas-deploy:composeProjects/frontend/server: 2 Dokploy servers are named 'edge-1' (srv-edge-1, srv-edge-1b): "
        "rename all but one",
        "stack staging: bizosaas-deploy:composeProjects/backend/server: no Dokploy server is named 'edge-9' "
        "(Dokploy's servers: edge-1, edge-2)",
    ]
    assert mocks.resources == []


def test_a_preview_without_an_api_key_names_the_servers_unresolved_and_says_so(mocks: Mocks, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.delenv("DOKPLOY_API_KEY", raising=False)
    monkeypatch.setattr("components.stack_config.api_key", lambda: "")
    inputs = _placed({**PLACED, "bizosaas-deploy:stabilityWindow": "10"}, warnings, monkeypatch, preview=True)
    assert (inputs["backend"]["server_name"], inputs["backend"]["server_id"]) == ("edge-1", "")
    assert inputs["registry"]["servers"] == {"edge-1": ""}
    assert any("this preview has no Dokploy API key, so the server names edge-1 were not checked" in w for w in warnings)
    assert any("stabilityWindow (10s) is shorter than the Swarm update monitor of brain-api" in w for w in warnings)


async def _settled(value: Any) -> Any:
    return value


def test_stack_outputs_wait_for_every_project_and_a_failed_one_keeps_the_previous_outputs() -> None:
    """`up --continue-on-error` leaves a failed project's outputs unknown: exporting then would overwrite the
    stack's release id and manifest with the failed release's; _finished raises so the engine keeps the old ones."""
    from components.program import _finished

    async def run(known: bool) -> bool:
        return await _finished(pulumi.Output(set(), _settled(True if known else None), _settled(known)))

    assert asyncio.run(run(True)) is True
    with pytest.raises(pulumi.RunError, match="the stack outputs keep the last release that finished"):
        asyncio.run(run(False))


def test_catalog_file_is_catalog_yaml_unless_bizosaas_catalog_names_another(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from components.program import CATALOG_FILE, PROJECT_DIR, catalog_file

    monkeypatch.delenv("BIZOSAAS_CATALOG", raising=False)
    assert catalog_file() == CATALOG_FILE == PROJECT_DIR / "catalog.yaml"
    monkeypatch.setenv("BIZOSAAS_CATALOG", "  ")
    assert catalog_file() == CATALOG_FILE
    monkeypatch.setenv("BIZOSAAS_CATALOG", str(tmp_path / "scale.yaml"))
    assert catalog_file() == tmp_path / "scale.yaml"
    monkeypatch.setenv("BIZOSAAS_CATALOG", "benchmarks/x.yaml")  # relative: to the project directory, wherever the engine runs
    assert catalog_file() == PROJECT_DIR / "benchmarks" / "x.yaml"


@pulumi.runtime.test
def test_the_program_reads_the_catalog_bizosaas_catalog_names(mocks: Mocks, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    from components.program import build
    from core.catalog import load_catalog_file
    from tests.catalog_helpers import ROOT

    raw = load_catalog_file(ROOT / "catalog.yaml")
    raw["services"] = {n: s for n, s in raw["services"].items() if n in ("brain-api", "thrillring-gaming")}
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.setenv("BIZOSAAS_CATALOG", str(tmp_path / "two.yaml"))
    pulumi.runtime.set_config("bizosaas-deploy:services", json.dumps({"brain-api": {"published": True}}))  # auth-service is not in it

    outputs = build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=checked_config())

    def check(args: list[Any]) -> None:
        manifest, _ids = args
        assert sorted(manifest) == ["brain-api", "thrillring-gaming"]
        tags = [r.name for r in mocks.resources if r.typ == "docker:index/tag:Tag"]
        assert len(tags) == 2
        composes = sorted(r.name for r in mocks.resources if r.typ == "pulumi-python:dynamic/dokploy:ComposeProject")
        assert composes == ["backend", "frontend"]

    return pulumi.Output.all(outputs["release_manifest"], outputs["compose_project_ids"]).apply(check)


# --- routes and host ports: what each compose project gets, and clashes with other projects ----------


def test_each_compose_project_gets_its_services_routes_and_where_traefik_answers(mocks: Mocks, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = _placed({}, [], monkeypatch)
    backend, frontend = inputs["backend"], inputs["frontend"]
    assert sorted(backend["routes"]) == ["brain-api", "business-directory-backend", "coreldove-backend", "django-crm", "wagtail-cms"]
    assert backend["routes"]["brain-api"] == {"host": "api.staging.example.test", "path": "/", "port": 8001, "https": True,
                                              "certificate": "letsencrypt", "cert_resolver": "", "health": "/health"}
    assert frontend["routes"]["bizoholic-frontend"]["host"] == "staging.example.test"
    assert backend["traefik"] == {"web": "http://dokploy.example.test", "websecure": "https://dokploy.example.test"}
    portal = yaml.safe_load(frontend["compose_file"])["services"]["client-portal"]
    assert portal["environment"]["NEXT_PUBLIC_API_BASE_URL"] == "https://api.staging.example.test"  # what a browser opens
    assert "ports" not in portal  # no host port unless the stack asks
    off = _placed({"bizosaas-deploy:routes": json.dumps({"verify": False})}, [], monkeypatch)
    assert off["backend"]["traefik"] == {} and off["backend"]["routes"]  # routed, not checked


def test_a_port_or_host_another_project_has_fails_before_any_resource_naming_it(mocks: Mocks) -> None:
    from components import clash_check
    from components.program import build
    from core import clashes
    from core.catalog import CatalogError

    prod_compose = "services:\n  api:\n    ports: ['127.0.0.1:8006:8007']\n"
    listing = clash_check.Listing(
        composes=[clashes.Other("compose backend (project bizosaas-prod, environment production)", clashes.published(prod_compose, ""))],
        domains=[{"host": "portal.staging.example.test", "path": "/", "enabled": True, "serviceOwnerType": "compose",
                  "serviceName": "frontend", "projectName": "bizosaas-prod", "environmentName": "production"}],
    )
    with pytest.raises(CatalogError) as info:
        build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=[], list_others=lambda: listing)
    assert info.value.problems == [
        "stack staging: bizosaas-deploy:services/auth-service/published: host port 8006 on Dokploy's host is already published by "
        "compose backend (project bizosaas-prod, environment production) (service api, 127.0.0.1:8006); one port can be bound once: "
        "publish auth-service on another port, or not at all (its route and dokploy-network reach it)",
        "stack staging: services/client-portal/route: portal.staging.example.test is already routed by compose frontend (project "
        "bizosaas-prod, environment production): Traefik would send its requests to either; give client-portal another host, or "
        "remove that domain in Dokploy",
    ]
    assert mocks.resources == []


def test_a_preview_without_an_api_key_says_the_ports_and_routes_were_not_checked(mocks: Mocks, monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[str] = []
    monkeypatch.delenv("DOKPLOY_API_KEY", raising=False)
    monkeypatch.setattr("components.stack_config.api_key", lambda: "")
    _placed({}, warnings, monkeypatch, preview=True)
    assert any("this preview has no Dokploy API key, so the host ports and routes it asks for were not checked" in w for w in warnings)


def test_dokploy_not_answering_fails_an_up_and_warns_in_a_preview(mocks: Mocks, monkeypatch: pytest.MonkeyPatch) -> None:
    from components.program import build
    from core.catalog import CatalogError
    from dokploy_api import DokployConnectionError

    def unreachable() -> Any:
        raise DokployConnectionError("project.all: could not connect (https://dokploy.example.test)", maybe_sent=False)

    with pytest.raises(CatalogError, match=r"could not read what the other projects on Dokploy publish and route: project\.all: could"):
        build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=[], list_others=unreachable)
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **kw: warnings.append(msg))
    pulumi.runtime.set_mocks(Mocks(), project="bizosaas-deploy", stack="staging", preview=True)
    cfg, secret_keys = stack_config()
    pulumi.runtime.set_all_config(cfg, secret_keys)
    build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=[], list_others=unreachable)
    assert any("this preview did not check the host ports and routes, `pulumi up` does before anything changes" in w for w in warnings)


def test_a_secret_value_that_would_not_arrive_exactly_stops_the_preview_naming_stack_key_and_services(mocks: Mocks) -> None:
    from components.program import build
    from core.catalog import CatalogError

    bad = {**SECRET_VALUES, "JWT_SECRET": "x${{project.JWT}}y", "SECRET_KEY": "it's $x"}  # the second is fine now
    pulumi.runtime.set_config("bizosaas-deploy:secrets", json.dumps(bad))
    pulumi.runtime.set_config("bizosaas-deploy:composeProjects", json.dumps({"backend": {"mode": "stack"}}))
    with pytest.raises(CatalogError) as info:
        build("staging", pulumi.Config("bizosaas-deploy"), inspect=image_inspector, config_problems=[])
    [line] = [p for p in info.value.problems if "secrets/" in p]
    assert line.startswith("stack staging: bizosaas-deploy:secrets/JWT_SECRET: contains ${{...}}, which Dokploy replaces")
    assert "services " in line and "compose project backend, stack mode" in line
    assert "project.JWT" not in "\n".join(info.value.problems)  # never the value
    assert mocks.resources == []
