"""Session-wide test settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from testkit import traefik as traefik_kit

# The real language host and provider plugins cannot be installed on these machines: engine tests use the
# stand-in (testkit/bin/pulumi-resource-docker), as `make test` and `make demo` do.
os.environ.setdefault("BIZOSAAS_STANDINS", "1")


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
