"""A failure a provider reports reaches the engine as its message alone: no traceback, no "Exception calling application".

The Python SDK's dynamic-provider host (``python -m pulumi.dynamic``, ``pulumi/dynamic/__main__.py`` of pulumi
3.272.0) runs every operation inside ``_abort_with_traceback``, which answers the engine with
``traceback.format_exc()``: "Traceback (most recent call last):", the host's frames and ours, then the exception's
class and message; the engine prints that as the resource's error. (Hosts before it let grpc answer
"Exception calling application: <message>".) The SDK offers no public way for a dynamic provider to give the
engine a message of its own, so this module, the only one that touches the host's internals, gives the host
module a ``traceback`` whose ``format_exc`` answers with the message alone for an exception the provider
reported (``report``); any other exception (a bug) keeps its traceback.

SDK-version dependent (checked with pulumi 3.272.0): ``tests/components/test_provider_host.py`` runs the real
host over gRPC and fails when the host stops answering with ``traceback.format_exc()``.
"""

from __future__ import annotations

import sys
import traceback
from types import ModuleType
from typing import Any

HOST_MODULE = "pulumi.dynamic.__main__"
_MARK = "_bizosaas_reported"


def report(exc: BaseException) -> BaseException:
    """Mark ``exc`` as a failure the provider explains in its message (the engine shows the message alone)."""
    setattr(exc, _MARK, True)
    return exc


def reported(exc: BaseException | None) -> bool:
    return bool(getattr(exc, _MARK, False))


class _Traceback:
    """The ``traceback`` module, except that ``format_exc`` gives a reported failure's message alone."""

    def __init__(self, real: ModuleType) -> None:
        self._real = real

    def format_exc(self, *args: Any, **kwargs: Any) -> str:
        exc = sys.exc_info()[1]
        return str(exc) if reported(exc) else str(self._real.format_exc(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def host() -> ModuleType | None:
    """The dynamic-provider host's module, when this process is that host (``python -m pulumi.dynamic``)."""
    main = sys.modules.get("__main__")
    return main if getattr(getattr(main, "__spec__", None), "name", "") == HOST_MODULE else None


def install(module: ModuleType | None = None) -> bool:
    """Make the host answer reported failures with their message; True when this process is the host (idempotent)."""
    module = module or host()
    if module is None or not hasattr(module, "_abort_with_traceback"):
        return False
    if not isinstance(getattr(module, "traceback", None), _Traceback):
        module.traceback = _Traceback(traceback)  # type: ignore[attr-defined]
    return True
