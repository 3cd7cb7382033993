"""The images a stack pushes: per service a ServiceTest (the pre-push test gate) and a ServiceImage that waits for it.

A pinned stack declares them frozen: with their stored inputs, so nothing is tested, tagged, pushed or deleted.
"""

from __future__ import annotations

import os

import pulumi
import pulumi_docker as docker

from components import stack_config
from components.service_image import ServiceImage, ServiceImageArgs
from components.stack_config import read_gate
from components.test_gate import ServiceTest, ServiceTestArgs
from core.catalog import Catalog
from core.hosts import is_loopback
from probes.local_images import ImageReport


def push_images(
    stack: str, catalog: Catalog, cfg: pulumi.Config, report: ImageReport, *, frozen: bool = False
) -> dict[str, ServiceImage]:
    """A ServiceImage per service, each waiting for its pre-push test; ``frozen`` (a pinned stack): declared with
    their stored inputs, so nothing is tested, tagged or pushed."""
    registry_host = next(iter(catalog.services.values())).image_repository.split("/", 1)[0]
    if is_loopback(registry_host):  # a plain-HTTP loopback registry (the local stack)
        registry_host = f"http://{registry_host}"
    if cfg.get("registryUser"):
        token = (cfg.get_secret("registryToken") or pulumi.Output.secret("")) if frozen else cfg.require_secret("registryToken")
        auth = docker.ProviderRegistryAuthArgs(address=registry_host, username=cfg.require("registryUser"), password=token)
    else:  # a registry without authentication (the local one)
        auth = docker.ProviderRegistryAuthArgs(address=registry_host, auth_disabled=True)
    docker_host = cfg.get("dockerHost") or ""
    provider = docker.Provider(
        "docker",
        host=docker_host or os.environ.get("DOCKER_HOST"),
        registry_auth=[auth],
        opts=pulumi.ResourceOptions(ignore_changes=["registryAuth"]) if frozen else None,  # a rollback needs no push token
    )
    opts = pulumi.ResourceOptions(providers=[provider], transformations=[_freeze] if frozen else None)
    tests = gate_tests(stack, catalog, cfg, report, docker_host, frozen)
    ids = {name: facts.image_id for name, facts in report.facts.items()}
    return {
        name: ServiceImage(
            name, ServiceImageArgs(svc.local_image, svc.image_repository, catalog.tag, ids.get(name, ""), tests.get(name)), opts=opts
        )
        for name, svc in catalog.services.items()
    }


def gate_tests(
    stack: str, catalog: Catalog, cfg: pulumi.Config, report: ImageReport, docker_host: str, frozen: bool
) -> dict[str, pulumi.Resource]:
    """One ServiceTest per pushed image (its Command is what the image's Tag and push wait for), unless testGate is false."""
    gate = read_gate(cfg)
    if not gate.enabled:
        if not frozen:
            pulumi.log.warn(
                f"stack {stack}: {stack_config.PROJECT}:testGate is false: the images are pushed WITHOUT their pre-push test "
                f"(`pulumi config rm testGate` turns it back on)"
            )
        return {}
    opts = pulumi.ResourceOptions(transformations=[_freeze]) if frozen else None
    return {
        name: ServiceTest(
            name,
            ServiceTestArgs(
                service=name,
                local_image=svc.local_image,
                local_image_id=report.facts[name].image_id if name in report.facts else "",
                port=svc.port,
                health_path=svc.health_path,
                environment=svc.test_environment(),
                test=svc.test,
                timeout=gate.timeout,
                docker_host=docker_host,
            ),
            opts=opts,
        ).command
        for name, svc in catalog.services.items()
    }


def _freeze(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    """The images of a pinned stack keep the inputs in the state: unchanged, nothing is tagged, pushed or deleted."""
    if not args.type_.startswith(("docker:", "command:")):
        return None
    frozen = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(ignore_changes=["*"]))
    return pulumi.ResourceTransformationResult(args.props, frozen)
