"""Fixtures shared by the engine tests: the local S3-compatible server (testkit/s3.py)."""

from __future__ import annotations

import os

import pytest

from testkit import s3


@pytest.fixture(scope="session")
def server() -> s3.Server:
    """The S3 server on loopback (started if needed); a skip here, a failure under CI, when it is not installed."""
    if not s3.installed():
        message = f"the S3 server is not installed ({s3.BINARY} is missing): run scripts/install-s3.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it (make test -> scripts/setup.sh --with-s3): never a skip there
        pytest.skip(message)
    return s3.start()
