"""ServiceTest under pulumi mocks, and the gate in ServiceImage: what the Command runs, what triggers it, what waits for it."""

from __future__ import annotations

import asyncio
import json
import shlex
from typing import Any

import pulumi
import pulumi_docker as docker
import pytest

from components.service_image import ServiceImage, ServiceImageArgs
from components.test_gate import SMOKE_TEST, ServiceTest, ServiceTestArgs, smoke_test_command
from probes import image_smoke_test

LOCAL_ID = "sha256:" + "1" * 64
COMMAND = "command:local:Command"


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        outs = dict(args.inputs)
        if args.typ == COMMAND:
            outs.update(stdout="image test of brain-api passed", stderr="")
        if args.typ == "docker:index/registryImage:RegistryImage":
            outs["sha256Digest"] = "sha256:" + "c" * 64
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """Keeps every RegisterResource request: they carry the options (dependencies, timeouts, replaceOnChanges)."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.requests: list[Any] = []

    def RegisterResource(self, request: Any) -> Any:
        self.requests.append(request)
        return super().RegisterResource(request)


@pytest.fixture
def monitor() -> RecordingMonitor:
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = Mocks()
    recording = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="bizosaas-deploy", stack="staging", preview=False, monitor=recording)
    return recording


def args(**changes: Any) -> ServiceTestArgs:
    base: dict[str, Any] = {
        "service": "brain-api", "local_image": "bizosaas-brain-gateway:latest", "local_image_id": LOCAL_ID, "port": 8001,
        "health_path": "/health", "environment": {"LOG_LEVEL": "INFO", "ENVIRONMENT": "test"}, "timeout": 45,
    }
    return ServiceTestArgs(**{**base, **changes})


def test_the_command_line_is_the_default_test_from_the_project_directory_every_argument_quoted() -> None:
    line = smoke_test_command(args(test=("/bin/sh", "-c", "python -m pytest -q 'tests/unit'; echo $HOME")))
    argv = shlex.split(line)
    assert tuple(argv[:3]) == SMOKE_TEST == ("venv/bin/python", "-m", "probes.image_smoke_test")
    assert argv[3:] == [
        "--service", "brain-api", "--image", LOCAL_ID, "--image-name", "bizosaas-brain-gateway:latest", "--port", "8001",
        "--health", "/health", "--timeout", "45", "--", "/bin/sh", "-c", "python -m pytest -q 'tests/unit'; echo $HOME",
    ]
    opts = image_smoke_test.parse_args(argv[3:])  # the script reads exactly what the gate wrote
    assert (opts.service, opts.image, opts.port, opts.health, opts.timeout) == ("brain-api", LOCAL_ID, 8001, "/health", 45)
    assert opts.test == ("/bin/sh", "-c", "python -m pytest -q 'tests/unit'; echo $HOME")
    assert "--" not in shlex.split(smoke_test_command(args()))


@pulumi.runtime.test
def test_one_command_triggered_by_the_local_image_id_with_the_placeholder_env(monitor: RecordingMonitor) -> Any:
    gate = ServiceTest("brain-api", args(docker_host="unix:///run/user/1000/docker.sock"))

    def check(values: list[Any]) -> None:
        urn, result = values
        assert urn.endswith("bizosaas:index:ServiceTest::brain-api")
        assert result == "image test of brain-api passed"
        [request] = [r for r in monitor.requests if r.type == COMMAND]
        assert request.name == "brain-api-test" and request.parent.endswith("bizosaas:index:ServiceTest::brain-api")
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        assert inputs["create"] == smoke_test_command(args())
        assert inputs["triggers"] == [LOCAL_ID]
        assert json.loads(inputs["environment"][image_smoke_test.ENV_VAR]) == {"ENVIRONMENT": "test", "LOG_LEVEL": "INFO"}
        assert inputs["environment"]["DOCKER_HOST"] == "unix:///run/user/1000/docker.sock"
        assert "update" not in inputs and "delete" not in inputs and "dir" not in inputs
        assert list(request.replaceOnChanges) == ["triggers[*]"]  # a rebuilt image is a new test (the SDK's own option)
        assert request.customTimeouts.create == request.customTimeouts.update == "390s"

    return pulumi.Output.all(gate.urn, gate.result).apply(check)


@pulumi.runtime.test
def test_a_tested_image_is_tagged_by_id_and_tagged_and_pushed_only_after_its_test(monitor: RecordingMonitor) -> Any:
    provider = docker.Provider("docker")
    gate = ServiceTest("brain-api", args())
    image = ServiceImage(
        "brain-api",
        ServiceImageArgs("bizosaas-brain-gateway:latest", "ghcr.io/o/p/brain-api", "staging", LOCAL_ID, tested_by=gate.command),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )

    def check(values: list[Any]) -> None:
        command_urn = values[0]
        by_type = {r.type: r for r in monitor.requests}
        tag, push = by_type["docker:index/tag:Tag"], by_type["docker:index/registryImage:RegistryImage"]
        assert command_urn in tag.dependencies and command_urn in push.dependencies
        assert pulumi.runtime.rpc.deserialize_properties(tag.object)["sourceImage"] == LOCAL_ID  # exactly the tested image
        assert tag.parent == push.parent == values[1]

    return pulumi.Output.all(gate.command.urn, image.urn, image.sha256_digest).apply(check)


@pulumi.runtime.test
def test_without_a_gate_the_image_is_tagged_by_name_and_waits_for_nothing(monitor: RecordingMonitor) -> Any:
    image = ServiceImage("web", ServiceImageArgs("web:latest", "127.0.0.1:5000/o/web", "local", LOCAL_ID))

    def check(_: Any) -> None:
        tag = next(r for r in monitor.requests if r.type == "docker:index/tag:Tag")
        assert list(tag.dependencies) == []
        assert pulumi.runtime.rpc.deserialize_properties(tag.object)["sourceImage"] == "web:latest"
        assert not [r for r in monitor.requests if r.type == COMMAND]

    return image.sha256_digest.apply(check)
