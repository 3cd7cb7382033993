"""Session-wide test settings."""

import os

# The real pulumi-docker plugin cannot be installed on these machines: engine tests use the
# stand-in (testkit/bin/pulumi-resource-docker), as `make test` and `make demo` do.
os.environ.setdefault("BIZOSAAS_DOCKER_STANDIN", "1")
