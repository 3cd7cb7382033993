"""STAND-IN for pulumi-language-python: lets the standard `pulumi` CLI run this project's `__main__.py`.

The real Python language host cannot be built here (the Go module proxy does not serve it), so
`pulumi preview` / `pulumi up` in the project directory would fail with "no language plugin". This
stand-in speaks the same LanguageRuntime gRPC protocol: it is the Python SDK's own language server
(``pulumi.automation._server.LanguageServer``, what inline Automation API programs use), told to run
the program directory's entry point (``__main__.py``) in-process with ``runpy``, as the real host's
``pulumi-language-python-exec`` does. The engine launches it as ``pulumi-language-python <engine
address>``; it prints its port and serves until killed. It says on stderr that it is a stand-in.

What it does not do: install dependencies (`pulumi install`), `pulumi about` details, policy packs,
debugging. A program error (``pulumi.RunError``) is reported once, with ``bail`` so the engine
does not print it again, like the real host. The SDK's server cancels the tasks left pending when the program
fails, and a task that failed with a RunError raises it again there, out of ``Run``: grpc would answer
"Exception calling application: <message>" and the engine print the message a second time. The real host
(``pulumi-language-python-exec``) cancels nothing, so this one answers that case as the real host does.
"""

from __future__ import annotations

import os
import runpy
import sys
from concurrent import futures
from pathlib import Path
from threading import Event
from typing import Any

import grpc
from pulumi import RunError
from pulumi.automation._server import LanguageServer
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

_GRPC_OPTIONS = [("grpc.max_receive_message_length", 400 * 1024 * 1024)]


class ProgramLanguageServer(LanguageServer):
    """The SDK's language server, running the entry point of the directory the engine names."""

    def __init__(self, engine_address: str) -> None:
        super().__init__(program=self._run_entry_point)
        self._entry = Path("__main__.py")
        self._engine_address = engine_address

    def Run(self, request: Any, context: Any) -> Any:
        directory = Path(request.info.program_directory or request.pwd or os.getcwd())
        entry = request.info.entry_point or "."
        self._entry = directory / entry if entry not in ("", ".") else directory / "__main__.py"
        if self._entry.is_dir():
            self._entry = self._entry / "__main__.py"
        os.chdir(request.pwd or directory)
        if str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
        if not request.args:  # the SDK's server reads the engine address from args[0] (inline programs pass it there)
            request.args.append(self._engine_address)
        try:
            result = super().Run(request, context)
        except RunError as exc:  # a pending task's RunError, raised again while the SDK's server cancels it: logged already
            return language_pb2.RunResponse(error=str(exc), bail=True)
        if result.error and not result.error.startswith("python inline source runtime error"):
            # a pulumi.RunError: already logged once as an error diagnostic, like the real host's bail
            return language_pb2.RunResponse(error=result.error, bail=True)
        return result

    def _run_entry_point(self) -> None:
        runpy.run_path(str(self._entry), run_name="__main__")


def main() -> None:
    print("pulumi-language-python: STAND-IN (testkit/language_host), not the real Pulumi language host", file=sys.stderr)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_OPTIONS)
    engine_address = sys.argv[-1] if len(sys.argv) > 1 else ""  # the engine starts language plugins with its address last
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(ProgramLanguageServer(engine_address), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    try:
        Event().wait()
    except KeyboardInterrupt:
        server.stop(0)


if __name__ == "__main__":
    main()
