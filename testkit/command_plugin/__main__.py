"""STAND-IN plugin entry point: ``python -m testkit.command_plugin [engine-address] [flags...]``.

Like every Pulumi plugin: serve the ResourceProvider gRPC API on a free loopback port, write that
port as the first line on stdout (the engine's handshake), and serve until killed.
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures

import grpc
from pulumi.runtime.proto import provider_pb2_grpc

from . import BANNER, log
from .provider import CommandProviderServicer

MAX_MESSAGE = 400 * 1024 * 1024


def main(argv: list[str]) -> int:
    """Print the port, then serve until SIGTERM/SIGINT (the engine kills plugins when it is done)."""
    log(BANNER)
    servicer = CommandProviderServicer()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)],
    )
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    servicer.runner.cancel()
    server.stop(grace=2).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
