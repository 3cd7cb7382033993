"""STAND-IN ResourceProvider gRPC servicer for pulumi-docker 5.2.0 (Tag and RegistryImage only).

Protocol choices: ``Handshake`` is left unimplemented (the engine then falls back to
``Configure``, as for older bridged providers); ``Configure`` answers acceptSecrets and
supportsPreview, and declines resource references and output values (the engine then sends plain
ids/URNs and plain values). Errors are returned as gRPC status messages the engine shows verbatim.
"""

from __future__ import annotations

import functools
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from . import VERSION
from .config import ConfigError, ProviderConfig, decode_list
from .diffing import Diff
from .engine import DockerCLI, DockerError, log
from .props import contains_unknown, plain, to_dict, to_struct
from .registry import RegistryError
from .resources import RESOURCES, Context, ResourceError
from .schema import schema_json

_KNOWN_ERRORS = (ConfigError, DockerError, RegistryError, ResourceError)
R = TypeVar("R")


class Unimplemented(Exception):
    """A resource type or feature the stand-in does not implement."""


def rpc(method: Callable[..., R]) -> Callable[..., R]:
    """Turn stand-in exceptions into gRPC errors the engine shows as the operation's failure."""

    @functools.wraps(method)
    def wrapper(self: DockerProviderServicer, request: Any, context: grpc.ServicerContext) -> R:
        try:
            return method(self, request, context)
        except _KNOWN_ERRORS as exc:
            log(f"{method.__name__} failed: {exc}")
            context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        except Unimplemented as exc:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, str(exc))
        except Exception as exc:  # every bug becomes a gRPC error, with a trace in the log
            log(f"{method.__name__} crashed: {traceback.format_exc()}")
            context.abort(grpc.StatusCode.INTERNAL, f"docker stand-in {method.__name__}: {type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")

    return wrapper


def resource_type(urn: str, explicit: str = "") -> str:
    """The resource type token from the request (newer engines) or from the URN."""
    if explicit:
        return explicit
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) >= 4 else ""


def diff_response(diff: Diff) -> provider_pb2.DiffResponse:
    """Diff -> DiffResponse with a detailed diff (one entry per changed top-level property)."""
    detailed = {key: provider_pb2.PropertyDiff(kind=kind, inputDiff=input_diff) for key, (kind, input_diff) in diff.detailed.items()}
    return provider_pb2.DiffResponse(
        changes=provider_pb2.DiffResponse.DIFF_SOME if diff.changed else provider_pb2.DiffResponse.DIFF_NONE,
        replaces=diff.replaces,
        diffs=diff.diffs,
        detailedDiff=detailed,
        hasDetailedDiff=True,
        deleteBeforeReplace=False,
    )


class DockerProviderServicer(provider_pb2_grpc.ResourceProviderServicer):
    """STAND-IN servicer; one instance per plugin process, configured once by the engine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = ProviderConfig()
        self._docker = DockerCLI(host=self._config.host)

    # --- plugin and provider-level calls -------------------------------------------------

    def GetPluginInfo(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> plugin_pb2.PluginInfo:
        """The version the engine asked for: this stand-in answers as 5.2.0."""
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetSchema(self, request: provider_pb2.GetSchemaRequest, context: grpc.ServicerContext) -> provider_pb2.GetSchemaResponse:
        """A reduced schema (provider config, Tag, RegistryImage)."""
        return provider_pb2.GetSchemaResponse(schema=schema_json())

    @rpc
    def CheckConfig(self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext) -> provider_pb2.CheckResponse:
        """Pass the provider inputs through; report a registryAuth that cannot be parsed."""
        news = to_dict(request.news)
        failures = []
        value = news.get("registryAuth")
        if value is not None and not contains_unknown(value):
            try:
                decode_list(value)
            except ConfigError as exc:
                failures.append(provider_pb2.CheckFailure(property="registryAuth", reason=str(exc)))
        return provider_pb2.CheckResponse(inputs=to_struct(news), failures=failures)

    @rpc
    def DiffConfig(self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext) -> provider_pb2.DiffResponse:
        """Changed provider settings update the provider in place; none forces a replacement."""
        olds, news = to_dict(request.olds), to_dict(request.news)
        diff = Diff()
        for key in sorted(set(olds) | set(news)):
            if key == "version":
                continue
            if contains_unknown(news.get(key)) or plain(olds.get(key)) != plain(news.get(key)):
                diff.add(key, plain(olds.get(key)), plain(news.get(key)), replace=False)
        return diff_response(diff)

    @rpc
    def Configure(self, request: provider_pb2.ConfigureRequest, context: grpc.ServicerContext) -> provider_pb2.ConfigureResponse:
        """Read host/registryAuth/disableDockerDaemonCheck; ping the daemon unless disabled."""
        config = ProviderConfig.from_wire(to_dict(request.args), dict(request.variables))
        docker = DockerCLI(host=config.host)
        if not config.disable_daemon_check:
            try:
                version = docker.ping()
            except DockerError as exc:
                raise ConfigError(f"Error loading docker client: {exc}") from None
            log(f"configured: daemon {config.host} (engine {version}); registryAuth for {sorted(config.auths) or 'none'}")
        with self._lock:
            self._config, self._docker = config, docker
        return provider_pb2.ConfigureResponse(acceptSecrets=True, supportsPreview=True, acceptResources=False, acceptOutputs=False)

    def Cancel(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        """Nothing runs in the background; running docker commands finish on their own."""
        return empty_pb2.Empty()

    def Attach(self, request: plugin_pb2.PluginAttach, context: grpc.ServicerContext) -> empty_pb2.Empty:
        """Accept the engine address (the stand-in never calls back)."""
        return empty_pb2.Empty()

    def GetMapping(self, request: provider_pb2.GetMappingRequest, context: grpc.ServicerContext) -> provider_pb2.GetMappingResponse:
        """No conversion mappings."""
        return provider_pb2.GetMappingResponse(provider="", data=b"")

    def GetMappings(self, request: provider_pb2.GetMappingsRequest, context: grpc.ServicerContext) -> provider_pb2.GetMappingsResponse:
        """No conversion mappings."""
        return provider_pb2.GetMappingsResponse(providers=[])

    def Invoke(self, request: provider_pb2.InvokeRequest, context: grpc.ServicerContext) -> provider_pb2.InvokeResponse:
        """No functions are implemented (getRegistryImage, getRemoteImage, ...)."""
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"docker stand-in: function {request.tok} is not implemented")
        raise AssertionError("unreachable")

    # --- resource lifecycle ----------------------------------------------------------------

    def _resource(self, urn: str, explicit: str = "") -> Any:
        token = resource_type(urn, explicit)
        impl = RESOURCES.get(token)
        if impl is None:
            raise Unimplemented(
                f"docker stand-in (pulumi-docker 5.2.0): resource type {token or urn} is not implemented; "
                f"only {', '.join(sorted(RESOURCES))} are",
            )
        return impl

    def _ctx(self) -> Context:
        with self._lock:
            return Context(config=self._config, docker=self._docker)

    @rpc
    def Check(self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext) -> provider_pb2.CheckResponse:
        """Validate inputs and add upstream defaults."""
        impl = self._resource(request.urn, request.type)
        name = request.name or request.urn.rsplit("::", 1)[-1]
        result = impl.check(to_dict(request.news), to_dict(request.olds), name, bytes(request.randomSeed))
        failures = [provider_pb2.CheckFailure(property=p, reason=r) for p, r in result.failures]
        return provider_pb2.CheckResponse(inputs=to_struct(result.inputs), failures=failures)

    @rpc
    def Diff(self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext) -> provider_pb2.DiffResponse:
        """Compare state with new inputs (and, as an extension, the local images)."""
        impl = self._resource(request.urn, request.type)
        diff = impl.diff(self._ctx(), to_dict(request.olds), to_dict(request.news), list(request.ignoreChanges))
        log(f"Diff {request.urn}: changes={diff.diffs} replaces={diff.replaces}")
        return diff_response(diff)

    @rpc
    def Create(self, request: provider_pb2.CreateRequest, context: grpc.ServicerContext) -> provider_pb2.CreateResponse:
        """Create (or, in preview, describe) the resource."""
        impl = self._resource(request.urn, request.type)
        rid, outs = impl.create(self._ctx(), to_dict(request.properties), request.preview)
        return provider_pb2.CreateResponse(id=rid, properties=to_struct(outs))

    @rpc
    def Update(self, request: provider_pb2.UpdateRequest, context: grpc.ServicerContext) -> provider_pb2.UpdateResponse:
        """Update in place (RegistryImage only in practice)."""
        impl = self._resource(request.urn, request.type)
        outs = impl.update(self._ctx(), request.id, to_dict(request.olds), to_dict(request.news), request.preview)
        return provider_pb2.UpdateResponse(properties=to_struct(outs))

    @rpc
    def Read(self, request: provider_pb2.ReadRequest, context: grpc.ServicerContext) -> provider_pb2.ReadResponse:
        """Refresh: the current state, or an empty id when the resource is gone."""
        impl = self._resource(request.urn, request.type)
        props = to_dict(request.properties) or to_dict(request.inputs)
        rid, outs, inputs = impl.read(self._ctx(), request.id, props)
        return provider_pb2.ReadResponse(id=rid, properties=to_struct(outs), inputs=to_struct(inputs))

    @rpc
    def Delete(self, request: provider_pb2.DeleteRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        """Delete per the resource's upstream semantics."""
        impl = self._resource(request.urn, request.type)
        impl.delete(self._ctx(), request.id, to_dict(request.properties))
        return empty_pb2.Empty()
