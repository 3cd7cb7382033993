"""A NO-OP ``pulumi-resource-docker`` plugin used only to RECORD previews (tests/previews/record.py).

It answers for ``docker:index/tag:Tag`` and ``docker:index/registryImage:RegistryImage`` without a
Docker daemon or registry: Create "pushes" nothing and reports a digest derived from the inputs.
It exists so that recorded engine events carry the real docker type tokens and the real
replace-on-new-trigger behaviour (digest unknown in preview). Never use it to deploy anything.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import threading
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
REPLACE_KEYS = {
    "docker:index/tag:Tag": ("sourceImage", "targetImage", "tagTriggers"),
    "docker:index/registryImage:RegistryImage": ("name", "triggers"),
}


def to_dict(value: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(value)


def to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def type_token(urn: str, explicit: str) -> str:
    return explicit or urn.split("::")[2].split("$")[-1]


def fake_digest(props: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(props, sort_keys=True).encode()).hexdigest()


def outputs(token: str, props: dict[str, Any], preview: bool) -> dict[str, Any]:
    if token.endswith(":RegistryImage"):
        inputs = {k: props.get(k) for k in ("name", "triggers")}
        return {**props, "sha256Digest": UNKNOWN if preview else fake_digest(inputs)}
    return {**props, "repoDigest": UNKNOWN if preview else fake_digest(props)}


class NoopDocker(provider_pb2_grpc.ResourceProviderServicer):
    def GetPluginInfo(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> plugin_pb2.PluginInfo:
        return plugin_pb2.PluginInfo(version="5.2.0")

    def CheckConfig(self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext) -> provider_pb2.CheckResponse:
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext) -> provider_pb2.DiffResponse:
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(self, request: provider_pb2.ConfigureRequest, context: grpc.ServicerContext) -> provider_pb2.ConfigureResponse:
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=True, acceptResources=False, acceptOutputs=False)

    def Cancel(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    def Check(self, request: provider_pb2.CheckRequest, context: grpc.ServicerContext) -> provider_pb2.CheckResponse:
        return provider_pb2.CheckResponse(inputs=request.news)

    def Diff(self, request: provider_pb2.DiffRequest, context: grpc.ServicerContext) -> provider_pb2.DiffResponse:
        token = type_token(request.urn, request.type)
        olds, news = to_dict(request.olds), to_dict(request.news)
        changed = sorted(k for k in news if olds.get(k) != news.get(k))
        replaces = [k for k in changed if k in REPLACE_KEYS.get(token, ())]
        kind = provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE
        return provider_pb2.DiffResponse(changes=kind, replaces=replaces, diffs=changed)

    def Create(self, request: provider_pb2.CreateRequest, context: grpc.ServicerContext) -> provider_pb2.CreateResponse:
        props = to_dict(request.properties)
        token = type_token(request.urn, request.type)
        return provider_pb2.CreateResponse(id=str(props.get("name") or props.get("targetImage")), properties=to_struct(
            outputs(token, props, request.preview)))

    def Update(self, request: provider_pb2.UpdateRequest, context: grpc.ServicerContext) -> provider_pb2.UpdateResponse:
        token = type_token(request.urn, request.type)
        return provider_pb2.UpdateResponse(properties=to_struct(outputs(token, to_dict(request.news), request.preview)))

    def Read(self, request: provider_pb2.ReadRequest, context: grpc.ServicerContext) -> provider_pb2.ReadResponse:
        return provider_pb2.ReadResponse(id=request.id, properties=request.properties, inputs=request.inputs)

    def Delete(self, request: provider_pb2.DeleteRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()


def main() -> int:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(NoopDocker(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
