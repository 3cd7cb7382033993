"""Session-wide test settings, the local S3-compatible server (testkit/s3.py) the state-backend tests share,
and a real Traefik configured as Dokploy's (testkit/traefik.py) for the tests of routes; the suite's timing
(tests/durations.py) and its spread over pytest-xdist workers (tests/schedule.py). Rules for a new test: tests/README.md."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit import s3
from testkit import traefik as traefik_kit

pytest_plugins = ["tests.durations", "tests.schedule"]

# The real language host and provider plugins cannot be installed on these machines: engine tests use the
# stand-in (testkit/bin/pulumi-resource-docker), as `make test` and `make demo` do.
os.environ.setdefault("BIZOSAAS_STANDINS", "1")
# botocore's credential chain ends at the instance metadata service (169.254.169.254): never ask it from a test.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
# A README command a test runs (`make demo`, `make down`) runs as in the user's shell, not as a sub-make of the
# `make test` that started pytest: no "make[1]: Entering directory" lines, no inherited jobserver or flags.
for _name in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"):
    os.environ.pop(_name, None)


def _worker_pulumi_home(worker: str) -> None:
    """pytest-xdist runs several of these processes at once: each keeps its own Pulumi home (the engine's workspace files,
    rewritten by every `pulumi stack select`) beside the one a single process uses (deployctl/engine.py), sharing its
    installed plugins."""
    shared = Path(__file__).resolve().parent.parent / ".state" / "pulumi-home"
    home = shared.with_name(f"pulumi-home-{worker}")
    home.mkdir(parents=True, exist_ok=True)
    (shared / "plugins").mkdir(parents=True, exist_ok=True)
    if not (home / "plugins").is_symlink():
        (home / "plugins").symlink_to(shared / "plugins")
    os.environ["PULUMI_HOME"] = str(home)


if os.environ.get("PYTEST_XDIST_WORKER") and "PULUMI_HOME" not in os.environ:
    _worker_pulumi_home(os.environ["PYTEST_XDIST_WORKER"])


@pytest.fixture(scope="session")
def server() -> s3.Server:
    """The S3 server on loopback (started if needed); a skip here, a failure under CI, when it is not installed."""
    if not s3.installed():
        message = f"the S3 server is not installed ({s3.BINARY} is missing): run scripts/install-s3.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it (make test -> scripts/setup.sh --with-s3): never a skip there
        pytest.skip(message)
    lock = Path(__file__).resolve().parent.parent / ".state" / "s3-start.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as fh:  # pytest-xdist workers ask at once: one starts it (scripts/start-s3.sh), the others find it
        fcntl.flock(fh, fcntl.LOCK_EX)
        return s3.start()


@pytest.fixture(scope="session")
def traefik() -> Iterator[traefik_kit.Traefik]:
    """A real Traefik container configured the Dokploy way (testkit/traefik.py), one per test process (each pytest-xdist
    worker has its own; it routes every labelled container of the engine: tests use host names of their own).

    A skip saying why when Traefik is not installed (scripts/install-traefik.sh); a failure under CI,
    which installs it (make test -> scripts/setup.sh). Removed at the end of the session.
    """
    if not traefik_kit.installed():
        if os.environ.get("CI"):
            pytest.fail(traefik_kit.not_installed_reason())
        pytest.skip(traefik_kit.not_installed_reason())
    running = traefik_kit.start()
    yield running
    running.stop()
