"""Session-wide test settings, and the local S3-compatible server (testkit/s3.py) the state-backend tests share."""

import os

import pytest

from testkit import s3

# The real language host and provider plugins cannot be installed on these machines: engine tests use the
# stand-in (testkit/bin/pulumi-resource-docker), as `make test` and `make demo` do.
os.environ.setdefault("BIZOSAAS_STANDINS", "1")
# botocore's credential chain ends at the instance metadata service (169.254.169.254): never ask it from a test.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def server() -> s3.Server:
    """The S3 server on loopback (started if needed); a skip here, a failure under CI, when it is not installed."""
    if not s3.installed():
        message = f"the S3 server is not installed ({s3.BINARY} is missing): run scripts/install-s3.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it (make test -> scripts/setup.sh --with-s3): never a skip there
        pytest.skip(message)
    return s3.start()
