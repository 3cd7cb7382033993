"""The fixture Pulumi program the recorded previews come from: shaped like components/program.py.

Two dynamic resources ``backend`` and ``frontend`` of type ``pulumi-python:dynamic/dokploy:ComposeProject``
(a no-op provider: it deploys nothing) with the real input shapes (``services``, ``compose_file``,
secret ``env`` dotenv text, names, health settings), and, in push mode, one
``bizosaas:index:ServiceImage`` component per service holding a ``docker:index/tag:Tag`` and a
``docker:index/registryImage:RegistryImage`` (served by the no-op plugin in tests/previews/bin) and, with
``gate``, one ``bizosaas:index:ServiceTest`` per service holding the ``command:local:Command`` its Tag and
push wait for (served by the pulumi-command stand-in; its command is the shell's no-op ``:``).

Every secret here is an obviously fake value (FAKE_SECRETS); tests assert none reaches a summary.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi
import pulumi_docker as docker
import yaml
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult
from pulumi_command import local as command_local

REGISTRY = "ghcr.io/example-org/bizosaas-fixture"
PROVIDER_KEY = "__provider"
REPLACE_KEYS = ("dokploy_url", "project_name", "environment_name", "compose_name")
FAKE_SECRETS: dict[str, str] = {
    "DATABASE_URL": "postgresql://fixture:FAKE-db-password-0001@db.invalid:5432/fixture",
    "REDIS_BASE_URL": "redis://:FAKE-redis-password-0002@redis.invalid:6379",
    "OPENAI_API_KEY": "sk-FAKE-openai-key-0003-do-not-use",
    "SECRET_KEY": "FAKE-django-secret-key-0004",
    "JWT_SECRET": "FAKE-jwt-secret-0005",
}
FAKE_API_KEY = "FAKE-dokploy-api-key-0006"
ROTATED_SECRETS: dict[str, str] = {
    **FAKE_SECRETS, "JWT_SECRET": "FAKE-jwt-secret-rotated-0007", "STRIPE_API_KEY": "sk_test_FAKE-stripe-0008",
}


@dataclass(frozen=True)
class Svc:
    """One service as the catalog + stack config resolve it."""

    name: str
    group: str
    port: int
    published: int
    health_path: str = "/health"
    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    build: str = "1"  # the local build: changes the image id (push mode) or the pinned digest


@dataclass(frozen=True)
class Fixture:
    """One stack's desired state."""

    stack: str
    services: tuple[Svc, ...]
    secret_values: dict[str, str] = field(default_factory=lambda: dict(FAKE_SECRETS))
    push: bool = False
    gate: bool = False  # push mode: a pre-push test per image, as components/test_gate.py declares it
    health_timeout: float = 180.0
    rollback_on_failure: bool = False

    def group(self, group: str) -> list[Svc]:
        return [s for s in self.services if s.group == group]


def digest(svc: Svc) -> str:
    return "sha256:" + hashlib.sha256(f"{svc.name}:{svc.build}".encode()).hexdigest()


def local_image_id(svc: Svc) -> str:
    return "sha256:" + hashlib.sha256(f"local:{svc.name}:{svc.build}".encode()).hexdigest()


def container(fx: Fixture, svc: Svc) -> str:
    return f"bizosaas-{svc.name}-{fx.stack}"


def health_url(svc: Svc) -> str:
    return f"https://dokploy.example.invalid:{svc.published}{svc.health_path}"


def env_map(svc: Svc) -> dict[str, str]:
    return {**dict(svc.env), **{n: f"${{{n}}}" for n in svc.secrets}}


def render_compose(fx: Fixture, group: str, digests: dict[str, str]) -> str:
    doc = {
        "services": {
            s.name: {
                "image": f"{REGISTRY}/{s.name}@{digests[s.name]}",
                "container_name": container(fx, s),
                "restart": "unless-stopped",
                "ports": [f"{s.published}:{s.port}"],
                "environment": env_map(s),
                "healthcheck": {"test": ["CMD-SHELL", f"wget -q -O /dev/null http://127.0.0.1:{s.port}{s.health_path} || exit 1"]},
                "networks": ["dokploy-network"],
                "labels": {"com.bizosaas.service": s.name, "com.bizosaas.stack": fx.stack},
            }
            for s in fx.group(group)
        },
        "networks": {"dokploy-network": {"external": True}},
    }
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=4096)


def render_env(fx: Fixture, group: str) -> str:
    names = sorted({n for s in fx.group(group) for n in s.secrets})
    return "".join(f"{n}='{fx.secret_values[n]}'\n" for n in names)


def summary(fx: Fixture, group: str, digests: dict[str, str]) -> dict[str, Any]:
    return {
        s.name: {
            "image": f"{REGISTRY}/{s.name}@{digests[s.name]}",
            "ports": [f"{s.published}:{s.port}"],
            "env": {**dict(s.env), **dict.fromkeys(s.secrets, "<secret>")},
            "health": health_url(s),
        }
        for s in fx.group(group)
    }


class NoopComposeProvider(ResourceProvider):
    """Deploys nothing: outputs echo the inputs (env stays secret: the engine re-marks it)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = {k: v for k, v in props.items() if k != PROVIDER_KEY}
        return CreateResult(f"compose-{props['compose_name']}", {**outs, "compose_id": f"compose-{props['compose_name']}", "healthy": True})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = sorted(k for k in news if k != PROVIDER_KEY and olds.get(k) != news.get(k))
        return DiffResult(changes=bool(changed), replaces=[k for k in changed if k in REPLACE_KEYS], delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = {k: v for k, v in news.items() if k != PROVIDER_KEY}
        return UpdateResult({**outs, "compose_id": f"compose-{news['compose_name']}", "healthy": True})


class ComposeProject(Resource, module="dokploy", name="ComposeProject"):
    """Same type token as components.dokploy_provider.ComposeProject."""

    compose_id: pulumi.Output[str]
    healthy: pulumi.Output[bool]

    def __init__(self, name: str, props: dict[str, Any]) -> None:
        super().__init__(NoopComposeProvider(), name, {**props, "compose_id": None, "healthy": None},
                         pulumi.ResourceOptions(additional_secret_outputs=["env", "api_key"]))


class ServiceTest(pulumi.ComponentResource):
    """The pre-push test of one image, as components/test_gate.py declares it (the command does nothing here)."""

    def __init__(self, svc: Svc) -> None:
        super().__init__("bizosaas:index:ServiceTest", svc.name, {}, None)
        line = (f": venv/bin/python -m probes.image_smoke_test --service {svc.name} --image {local_image_id(svc)} "
                f"--image-name bizosaas-{svc.name}:latest --port {svc.port} --health {svc.health_path} --timeout 120")
        self.command = command_local.Command(f"{svc.name}-test", create=line, triggers=[local_image_id(svc)],
                                             environment={"BIZOSAAS_TEST_ENV": "{}"}, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


class ServiceImage(pulumi.ComponentResource):
    """Tag + RegistryImage per service, as components/service_image.py declares them (after the test, with ``gate``)."""

    def __init__(self, fx: Fixture, svc: Svc) -> None:
        super().__init__("bizosaas:index:ServiceImage", svc.name, {}, None)
        gate = [ServiceTest(svc).command] if fx.gate else []
        child = pulumi.ResourceOptions(parent=self, depends_on=gate)
        target = f"{REGISTRY}/{svc.name}:{fx.stack}"
        source = local_image_id(svc) if fx.gate else f"bizosaas-{svc.name}:latest"
        tagged = docker.Tag(f"{svc.name}-tag", source_image=source, target_image=target,
                            tag_triggers=[local_image_id(svc)], opts=child)
        pushed = docker.RegistryImage(f"{svc.name}-image", name=tagged.target_image, keep_remotely=True,
                                      triggers={"local_image_id": local_image_id(svc)},
                                      opts=pulumi.ResourceOptions(parent=self, depends_on=[*gate, tagged]))
        self.sha256_digest = pushed.sha256_digest
        self.register_outputs({"sha256_digest": self.sha256_digest})


def program(fx: Fixture) -> None:
    """Declare the fixture stack (call inside a Pulumi program)."""
    if fx.push:
        images = {s.name: ServiceImage(fx, s) for s in fx.services}
        digests: pulumi.Output[dict[str, str]] = pulumi.Output.all(**{n: i.sha256_digest for n, i in images.items()})
    else:
        digests = pulumi.Output.from_input({s.name: digest(s) for s in fx.services})
    for group in ("backend", "frontend"):
        if not fx.group(group):
            continue
        env_text = pulumi.Output.secret(render_env(fx, group))
        ComposeProject(group, {
            "dokploy_url": "https://dokploy.example.invalid",
            "api_key": pulumi.Output.secret(FAKE_API_KEY),
            "project_name": f"bizosaas-{fx.stack}",
            "environment_name": "production",
            "compose_name": group,
            "compose_file": digests.apply(lambda d, g=group: render_compose(fx, g, d)),
            "env": env_text,
            "services": digests.apply(lambda d, g=group: summary(fx, g, d)),
            "health_urls": {s.name: health_url(s) for s in fx.group(group)},
            "deploy_timeout": 900.0,
            "poll_interval": 2.0,
            "health_timeout": fx.health_timeout,
            "rollback_on_failure": fx.rollback_on_failure,
            "allow_insecure_http": False,
        })
    pulumi.export("image_digests", digests)


# --- the fixture catalog: 14 services like catalog.yaml (8 backend, 6 frontend) -----------------

_BACKEND = [
    ("brain-api", 8001, 8001, ("DATABASE_URL", "OPENAI_API_KEY"), (("REDIS_URL", "${REDIS_BASE_URL}/0"),)),
    ("wagtail-cms", 4000, 8002, ("DATABASE_URL", "SECRET_KEY"), (("DJANGO_SETTINGS_MODULE", "wagtail_cms.settings.production"),)),
    ("django-crm", 8000, 8003, ("DATABASE_URL", "SECRET_KEY"), (("REDIS_URL", "${REDIS_BASE_URL}/1"),)),
    ("business-directory-backend", 8000, 8004, ("DATABASE_URL",), ()),
    ("coreldove-backend", 8000, 8005, ("DATABASE_URL",), ()),
    ("auth-service", 8007, 8007, ("DATABASE_URL", "JWT_SECRET"), (("TOKEN_TTL", "3600"),)),
    ("ai-agents", 8000, 8008, ("OPENAI_API_KEY",), ()),
    ("amazon-sourcing", 8000, 8009, ("DATABASE_URL",), ()),
]
_FRONTEND = [
    ("client-portal", 3000, 3001, (), (("NEXT_PUBLIC_API_URL", "http://bizosaas-brain-api:8001"),)),
    ("bizoholic-frontend", 3000, 3002, (), ()),
    ("coreldove-frontend", 3000, 3003, (), ()),
    ("business-directory-frontend", 3000, 3004, (), ()),
    ("thrillring-gaming", 3000, 3005, (), ()),
    ("admin-dashboard", 3000, 3006, (), (("NEXT_PUBLIC_API_URL", "http://bizosaas-brain-api:8001"),)),
]


def catalog(stack: str, log_level: str = "INFO") -> tuple[Svc, ...]:
    common = (("ENVIRONMENT", stack), ("LOG_LEVEL", log_level))
    out = [Svc(n, "backend", p, pub, env=(*env, *common), secrets=sec) for n, p, pub, sec, env in _BACKEND]
    out += [Svc(n, "frontend", p, pub, health_path="/api/health", env=(*env, *common), secrets=sec) for n, p, pub, sec, env in _FRONTEND]
    return tuple(out)


def many(stack: str, count: int = 140) -> tuple[Svc, ...]:
    """`count` generated services, half backend, half frontend (the size-cap scenario)."""
    return tuple(
        Svc(f"svc-{i:03d}", "backend" if i % 2 == 0 else "frontend", 8000, 9000 + i,
            env=(("ENVIRONMENT", stack), ("LOG_LEVEL", "INFO")), secrets=("DATABASE_URL",) if i % 2 == 0 else ())
        for i in range(count)
    )


def change(services: tuple[Svc, ...], name: str, **updates: Any) -> tuple[Svc, ...]:
    """The services with one of them changed."""
    return tuple(replace(s, **updates) if s.name == name else s for s in services)


def with_env(services: tuple[Svc, ...], name: str, key: str, value: str) -> tuple[Svc, ...]:
    """The services with one plain env variable added to one of them."""
    return tuple(replace(s, env=(*s.env, (key, value))) if s.name == name else s for s in services)
