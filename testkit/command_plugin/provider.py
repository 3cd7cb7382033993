"""STAND-IN ResourceProvider gRPC servicer for pulumi-command 1.2.1 (``command:local:Command`` only).

Lifecycle, as in pulumi-command 1.2.1 ``provider/pkg/provider/local/commandController.go``:
- Create runs ``create`` (nothing when it is unset); the id is ``<name><8 hex chars>``.
- Update runs ``update``, else ``create``, with the previous stdout/stderr in the environment.
- Delete runs ``delete`` with the stored inputs and PULUMI_COMMAND_STDOUT / PULUMI_COMMAND_STDERR.
- Read returns the state unchanged. In a preview nothing runs; stdout and stderr are unknown.
- A failed command fails the operation and no state is written: the next ``up`` tries again.
Outputs are the inputs as sent (secrets stay secret) plus ``stdout`` and ``stderr``.
"""

from __future__ import annotations

import functools
import secrets
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from testkit.docker_plugin.props import UNKNOWN, Props, plain, to_dict, to_struct

from . import COMMAND, VERSION, log
from .diffing import INPUTS, Diff, check, diff
from .runner import CommandFailed, Invocation, Runner
from .schema import schema_json

R = TypeVar("R")


class Unimplemented(Exception):
    """A resource type, function or feature the stand-in does not implement."""


def rpc(method: Callable[..., R]) -> Callable[..., R]:
    """Stand-in exceptions become gRPC errors the engine shows as the operation's failure."""

    @functools.wraps(method)
    def wrapper(self: CommandProviderServicer, request: Any, context: grpc.ServicerContext) -> R:
        try:
            return method(self, request, context)
        except CommandFailed as exc:
            log(f"{method.__name__} {getattr(request, 'urn', '')} failed: {exc}")
            context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        except Unimplemented as exc:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, str(exc))
        except Exception as exc:  # every bug becomes a gRPC error, with a trace in the log
            log(f"{method.__name__} crashed: {traceback.format_exc()}")
            context.abort(grpc.StatusCode.INTERNAL, f"command stand-in {method.__name__}: {type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")

    return wrapper


def require_command(urn: str, explicit: str = "") -> None:
    """Only ``command:local:Command`` is implemented."""
    parts = urn.split("::")
    token = explicit or (parts[2].split("$")[-1] if len(parts) >= 4 else urn)
    if token != COMMAND:
        raise Unimplemented(f"command stand-in (pulumi-command 1.2.1): resource type {token} is not implemented; only {COMMAND} is")


def invocation(command: str, inputs: Props, previous: Props, timeout: float = 0) -> Invocation:
    """What to run: ``command`` with the base inputs of ``inputs`` and the outputs in ``previous``."""
    base = plain(inputs)
    return Invocation(
        command=command,
        interpreter=base.get("interpreter") or (),
        dir=base.get("dir") or None,
        environment=base.get("environment") or {},
        stdin=base.get("stdin"),
        previous_stdout=plain(previous.get("stdout")) or "",
        previous_stderr=plain(previous.get("stderr")) or "",
        add_previous_output=base.get("addPreviousOutputInEnv") is not False,
        timeout=timeout or None,
    )


def diff_response(result: Diff) -> provider_pb2.DiffResponse:
    """Diff -> DiffResponse with the real provider's detailed diff (inputDiff false)."""
    return provider_pb2.DiffResponse(
        changes=provider_pb2.DiffResponse.DIFF_SOME if result.changed else provider_pb2.DiffResponse.DIFF_NONE,
        replaces=result.replaces,
        diffs=result.diffs,
        detailedDiff={path: provider_pb2.PropertyDiff(kind=kind, inputDiff=False) for path, kind in result.detailed.items()},
        hasDetailedDiff=True,
    )


class CommandProviderServicer(provider_pb2_grpc.ResourceProviderServicer):
    """STAND-IN servicer; one per plugin process. ``Handshake`` is left unimplemented (the engine
    then uses ``Configure``), resource references and output values are declined."""

    def __init__(self) -> None:
        self.runner = Runner()

    # --- plugin and provider-level calls -------------------------------------------------

    def GetPluginInfo(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetSchema(self, request: provider_pb2.GetSchemaRequest, context: grpc.ServicerContext) -> provider_pb2.GetSchemaResponse:
        return provider_pb2.GetSchemaResponse(schema=schema_json())

    def CheckConfig(self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext) -> provider_pb2.CheckResponse:
        """The provider has no configuration: pass the inputs through."""
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext) -> provider_pb2.DiffResponse:
        """Nothing to configure, so nothing to replace."""
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE, hasDetailedDiff=True)

    def Configure(self, request: provider_pb2.ConfigureRequest, context: grpc.ServicerContext) -> provider_pb2.ConfigureResponse:
        return provider_pb2.ConfigureResponse(acceptSecrets=True, supportsPreview=True, acceptResources=False, acceptOutputs=False)

    def Cancel(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        """Kill every running command (the real provider cancels their contexts)."""
        self.runner.cancel()
        return empty_pb2.Empty()

    def Attach(self, request: plugin_pb2.PluginAttach, context: grpc.ServicerContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def GetMapping(self, request: provider_pb2.GetMappingRequest, context: grpc.ServicerContext) -> provider_pb2.GetMappingResponse:
        return provider_pb2.GetMappingResponse(provider="", data=b"")

    def GetMappings(self, request: provider_pb2.GetMappingsRequest, context: grpc.ServicerContext) -> provider_pb2.GetMappingsResponse:
        return provider_pb2.GetMappingsResponse(providers=[])

    def Invoke(self, request: provider_pb2.InvokeRequest, context: grpc.ServicerContext) -> provider_pb2.InvokeResponse:
        """``command:local:run`` is not implemented."""
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"command stand-in: function {request.tok} is not implemented")
        raise AssertionError("unreachable")

    # --- resource lifecycle ----------------------------------------------------------------

    @rpc
    def Check(self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext) -> provider_pb2.CheckResponse:
        require_command(request.urn, request.type)
        inputs, failures = check(to_dict(request.news))
        return provider_pb2.CheckResponse(
            inputs=to_struct(inputs), failures=[provider_pb2.CheckFailure(property=p, reason=r) for p, r in failures]
        )

    @rpc
    def Diff(self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext) -> provider_pb2.DiffResponse:
        require_command(request.urn, request.type)
        state = to_dict(request.olds)
        old_inputs = to_dict(request.old_inputs) if request.HasField("old_inputs") else {k: v for k, v in state.items() if k in INPUTS}
        result = diff(old_inputs, state, to_dict(request.news), list(request.ignoreChanges))
        log(f"Diff {request.urn}: {result.detailed or 'no changes'}")
        return diff_response(result)

    @rpc
    def Create(self, request: provider_pb2.CreateRequest, context: grpc.ServicerContext) -> provider_pb2.CreateResponse:
        require_command(request.urn, request.type)
        inputs = to_dict(request.properties)
        name = request.name or request.urn.rsplit("::", 1)[-1]
        rid = name + secrets.token_hex(4)
        if request.preview:
            return provider_pb2.CreateResponse(id=rid, properties=to_struct({**inputs, "stdout": UNKNOWN, "stderr": UNKNOWN}))
        stdout, stderr = "", ""
        if (command := plain(inputs.get("create"))) is not None:
            log(f"Create {request.urn}: running create")
            stdout, stderr = self.runner.run(invocation(command, inputs, {}, request.timeout))
        return provider_pb2.CreateResponse(id=rid, properties=to_struct({**inputs, "stdout": stdout, "stderr": stderr}))

    @rpc
    def Update(self, request: provider_pb2.UpdateRequest, context: grpc.ServicerContext) -> provider_pb2.UpdateResponse:
        require_command(request.urn, request.type)
        state, news = to_dict(request.olds), to_dict(request.news)
        previous = {"stdout": state.get("stdout", ""), "stderr": state.get("stderr", "")}
        if request.preview:
            return provider_pb2.UpdateResponse(properties=to_struct({**news, "stdout": UNKNOWN, "stderr": UNKNOWN}))
        command = plain(news.get("update", news.get("create")))
        outputs = dict(previous)
        if command is not None:
            log(f"Update {request.urn}: running {'update' if 'update' in news else 'create'}")
            outputs["stdout"], outputs["stderr"] = self.runner.run(invocation(command, news, previous, request.timeout))
        return provider_pb2.UpdateResponse(properties=to_struct({**news, **outputs}))

    @rpc
    def Read(self, request: provider_pb2.ReadRequest, context: grpc.ServicerContext) -> provider_pb2.ReadResponse:
        """Refresh: nothing to look at, the state is returned unchanged."""
        require_command(request.urn, request.type)
        return provider_pb2.ReadResponse(id=request.id, properties=request.properties, inputs=request.inputs)

    @rpc
    def Delete(self, request: provider_pb2.DeleteRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        require_command(request.urn, request.type)
        state = to_dict(request.properties)
        if (command := plain(state.get("delete"))) is not None:
            log(f"Delete {request.urn}: running delete")
            self.runner.run(invocation(command, state, state, request.timeout))
        return empty_pb2.Empty()
