"""Session-wide test settings."""

import os

# The real language host and provider plugins cannot be installed on these machines: engine tests use the
# stand-in (testkit/bin/pulumi-resource-docker), as `make test` and `make demo` do.
os.environ.setdefault("BIZOSAAS_STANDINS", "1")
