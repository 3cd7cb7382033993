"""testkit.dokploy: a faithful STAND-IN for the Dokploy v0.30.2 HTTP API, for tests and the local stack.

Dokploy itself cannot run here; this package answers like a real v0.30.2 (status codes, body
shapes and quirks recorded in shared/dokploy/captures), validates every request against
Dokploy's OpenAPI document, runs a Dokploy-like deploy queue and, with ``docker=True``, really
deploys composes with ``docker compose``. See ``FakeDokploy`` and ``Faults``.
"""

from testkit.dokploy.faults import Faults
from testkit.dokploy.handlers import DOKPLOY_VERSION
from testkit.dokploy.server import FakeDokploy

__all__ = ["DOKPLOY_VERSION", "FakeDokploy", "Faults"]
