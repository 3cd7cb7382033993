"""ServiceTest: the pre-push test gate of one service's local image, a pulumi-command ``command:local:Command``.

The command runs the default test, ``probes/image_smoke_test.py``, with the project's virtualenv
(``venv/bin/python``, as Pulumi.yaml names it) from the project directory, where the engine starts
provider plugins: the same string works with the real pulumi-command on a user's machine and with the
stand-in here. It starts the image *by id*, waits for its health path on its catalog port to answer
2xx, runs the catalog's own ``test:`` inside it when there is one, and always removes the container.
The test container's environment is the service's ``test_environment()`` (no secret, nothing from
the stack), passed as one JSON value in the command's ``environment``.

``triggers=[local image id]``: an unchanged image is not tested again; a rebuilt one replaces the
command, which tests it. A failing test fails the command (the engine records no state for it, so
the next ``up`` tests again), and the ServiceImage's Tag and RegistryImage depend on the command:
that image is never tagged or pushed. Changing the test itself (port, health path, test, test_env,
timeout) updates the command in place, which runs the test again.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_command import local

from probes.image_smoke_test import ENV_VAR

SMOKE_TEST = ("venv/bin/python", "-m", "probes.image_smoke_test")
"""Relative to the project directory: no path of this machine in the state (another checkout is not a change)."""
SPARE_SECONDS = 300
"""Beyond twice the test timeout before the engine kills a command (docker run, clean-up; the test enforces its own limits)."""


@dataclass
class ServiceTestArgs:
    """What to test: one service's local image, against its catalog entry."""

    service: str
    local_image: str
    """The local name (for messages)."""
    local_image_id: str
    """``sha256:...``: the image that is tested, then tagged and pushed; the trigger."""
    port: int
    health_path: str
    environment: Mapping[str, str] = field(default_factory=dict)
    """The test container's whole environment (non-secret placeholders only)."""
    test: Sequence[str] = ()
    """The catalog's own test argv, run inside the container after the health path answered."""
    timeout: float = 120.0
    docker_host: str = ""
    """The Docker Engine the images live in, when the stack names one (dockerHost); else the engine's DOCKER_HOST."""


def smoke_test_command(args: ServiceTestArgs) -> str:
    """The shell command the Command runs (``/bin/sh -c``), every argument quoted."""
    argv = [
        *SMOKE_TEST,
        "--service", args.service,
        "--image", args.local_image_id,
        "--image-name", args.local_image,
        "--port", str(args.port),
        "--health", args.health_path,
        "--timeout", f"{args.timeout:g}",
    ]
    if args.test:
        argv += ["--", *args.test]
    return shlex.join(argv)


def command_environment(args: ServiceTestArgs) -> dict[str, str]:
    """The Command's ``environment``: the container env as one JSON value (and DOCKER_HOST when the stack sets one)."""
    env = {ENV_VAR: json.dumps(dict(sorted(args.environment.items())), separators=(",", ":"))}
    if args.docker_host:
        env["DOCKER_HOST"] = args.docker_host
    return env


class ServiceTest(pulumi.ComponentResource):
    """One ``command:local:Command`` (``<name>-test``) that tests one local image before it is pushed."""

    command: local.Command
    """Give this to ServiceImageArgs.tested_by: the image's Tag and RegistryImage then wait for it."""
    result: pulumi.Output[str]
    """The test's one-line outcome (its stdout)."""

    def __init__(self, name: str, args: ServiceTestArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bizosaas:index:ServiceTest", name, {}, opts)
        limit = f"{int(2 * args.timeout + SPARE_SECONDS)}s"
        self.command = local.Command(
            f"{name}-test",
            create=smoke_test_command(args),
            environment=command_environment(args),
            triggers=[args.local_image_id],
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=pulumi.CustomTimeouts(create=limit, update=limit)),
        )
        self.result = self.command.stdout
        self.register_outputs({"result": self.result})
