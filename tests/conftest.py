"""Session-wide test settings, the local S3-compatible server (testkit/s3.py) the state-backend tests share,
and a real Traefik configured as Dokploy's (testkit/traefik.py) for the tests of routes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from testkit import s3
from testkit import traefik as traefik_kit

# The real language host and provider plugins cannot be installed on these machines: engine tests use the
# stand-in (testkit/bin/pulumi-resource-docker), as `make test` and `make demo` do.
os.environ.setdefault("BIZOSAAS_STANDINS", "1")
# botocore's credential chain ends at the instance metadata service (169.254.169.254): never ask it from a test.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
# A README command a test runs (`make demo`, `make down`) runs as in the user's shell, not as a sub-make of the
# `make test` that started pytest: no "make[1]: Entering directory" lines, no inherited jobserver or flags.
for _name in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def server() -> s3.Server:
    """The S3 server on loopback (started if needed); a skip here, a failure under CI, when it is not installed."""
    if not s3.installed():
        message = f"the S3 server is not installed ({s3.BINARY} is missing): run scripts/install-s3.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it (make test -> scripts/setup.sh --with-s3): never a skip there
        pytest.skip(message)
    return s3.start()


@pytest.fixture(scope="module")
def traefik() -> Iterator[traefik_kit.Traefik]:
    """A real Traefik container configured the Dokploy way (testkit/traefik.py), one per test module.

    A skip saying why when Traefik is not installed (scripts/install-traefik.sh); a failure under CI,
    which installs it (make test -> scripts/setup.sh). Removed at the end of the module.
    """
    if not traefik_kit.installed():
        if os.environ.get("CI"):
            pytest.fail(traefik_kit.not_installed_reason())
        pytest.skip(traefik_kit.not_installed_reason())
    running = traefik_kit.start()
    yield running
    running.stop()
