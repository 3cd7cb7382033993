"""STAND-IN command runner, after pulumi-command 1.2.1 ``provider/pkg/provider/local/commandOutputs.go``.

- argv: ``interpreter`` (default ``["/bin/sh", "-c"]``) plus the command string; the program is
  looked up on the plugin's own PATH, not on ``environment``'s.
- cwd: ``dir``, else the plugin's working directory (the engine starts plugins in the project dir).
- environment: the plugin's environment, then ``environment``, then ``PULUMI_COMMAND_STDOUT`` /
  ``PULUMI_COMMAND_STDERR`` holding the previous outputs (when non-empty and
  ``addPreviousOutputInEnv`` is not false).
- stdin: ``stdin`` when non-empty, else /dev/null.
- outputs: stdout and stderr with one trailing newline removed.
- failure: ``<exit status N | signal: killed | start error>: running "<command>":\\n<output>``.

Differences: each stream keeps its last ``OUTPUT_LIMIT`` bytes, and an error message carries only
the last ``ERROR_LINES`` lines of the interleaved output (the real provider keeps everything). A
command runs in its own process group, and a timeout or Cancel kills that whole group (the real
provider kills the process alone, then waits until whatever it started closes the output pipes).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from . import log

DEFAULT_INTERPRETER = ("/bin/sh", "-c")
OUTPUT_LIMIT = 1024 * 1024
ERROR_LINES = 40
ERROR_LIMIT = 64 * 1024
STDOUT_ENV = "PULUMI_COMMAND_STDOUT"
STDERR_ENV = "PULUMI_COMMAND_STDERR"


class CommandFailed(Exception):
    """The command could not start or did not exit 0; the message is the real provider's shape."""

    def __init__(self, reason: str, command: str, output: str, exit_code: int | None = None) -> None:
        super().__init__(f"{reason}: running {go_quote(command)}:\n{output}")
        self.exit_code = exit_code


@dataclass
class Invocation:
    """One run of one command, with the resource's base inputs resolved to plain values."""

    command: str
    interpreter: Sequence[str] = ()
    dir: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    stdin: str | None = None
    previous_stdout: str = ""
    previous_stderr: str = ""
    add_previous_output: bool = True
    timeout: float | None = None


@dataclass
class Tail:
    """The last ``limit`` bytes written, and how many were dropped before them."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        excess = len(self.data) - self.limit
        if excess > 0:
            del self.data[:excess]
            self.dropped += excess

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def go_quote(text: str) -> str:
    """Close to Go's ``%q`` for the strings commands are made of."""
    return json.dumps(text, ensure_ascii=False)


def error_tail(tail: Tail, lines: int = ERROR_LINES) -> str:
    """The last ``lines`` lines of the interleaved output, saying how much was left out."""
    parts = tail.text().splitlines(keepends=True)
    omitted = len(parts) - lines
    text = "".join(parts[-lines:])
    if omitted > 0 or tail.dropped:
        text = f"[stand-in: earlier output omitted, last {min(lines, len(parts))} lines follow]\n{text}"
    return text


def _environment(inv: Invocation) -> dict[str, str]:
    env = dict(os.environ)
    env.update(inv.environment)
    if inv.add_previous_output:
        if inv.previous_stdout:
            env[STDOUT_ENV] = inv.previous_stdout
        if inv.previous_stderr:
            env[STDERR_ENV] = inv.previous_stderr
    return env


def _program(name: str, command: str) -> str:
    """Resolve argv[0] on the plugin's PATH, failing like Go's os/exec."""
    if "/" in name:
        return name
    found = shutil.which(name)
    if not found:
        raise CommandFailed(f"exec: {go_quote(name)}: executable file not found in $PATH", command, "")
    return found


def _pump(stream: IO[bytes], own: Tail, combined: Tail, lock: threading.Lock) -> None:
    with stream:
        while chunk := os.read(stream.fileno(), 65536):
            with lock:
                own.add(chunk)
                combined.add(chunk)


def _feed(stream: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError), stream:  # the command may exit without reading all of stdin
        stream.write(data)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command and everything it started (they share its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"signal: {signal.strsignal(-code) or -code}".lower()
    return f"exit status {code}"


class Runner:
    """Runs commands; ``cancel`` kills every command still running (the engine's Cancel)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()

    def cancel(self) -> None:
        with self._lock:
            for proc in self._running:
                _kill_group(proc)

    def run(self, inv: Invocation) -> tuple[str, str]:
        """Run ``inv``; return (stdout, stderr) or raise CommandFailed."""
        argv = [*(inv.interpreter or DEFAULT_INTERPRETER), inv.command]
        cwd = inv.dir or os.getcwd()
        if not os.path.isdir(cwd):
            why = "not a directory" if os.path.exists(cwd) else "no such file or directory"
            raise CommandFailed(f"chdir {cwd}: {why}", inv.command, "")
        program = _program(argv[0], inv.command)
        feed = inv.stdin.encode() if inv.stdin else None
        try:
            proc = subprocess.Popen(
                argv,
                executable=program,
                cwd=cwd,
                env=_environment(inv),
                stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                process_group=0,
            )
        except OSError as exc:
            raise CommandFailed(f"fork/exec {program}: {(exc.strerror or str(exc)).lower()}", inv.command, "") from None
        out, err, both, lock = Tail(OUTPUT_LIMIT), Tail(OUTPUT_LIMIT), Tail(ERROR_LIMIT), threading.Lock()
        assert proc.stdout is not None and proc.stderr is not None
        threads = [
            threading.Thread(target=_pump, args=(proc.stdout, out, both, lock), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, err, both, lock), daemon=True),
        ]
        if feed is not None:
            assert proc.stdin is not None
            threads.append(threading.Thread(target=_feed, args=(proc.stdin, feed), daemon=True))
        with self._lock:
            self._running.add(proc)
        try:
            for thread in threads:
                thread.start()
            try:
                code = proc.wait(timeout=inv.timeout or None)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                code = proc.wait()
            for thread in threads:
                thread.join()
        finally:
            with self._lock:
                self._running.discard(proc)
        if code != 0:
            raise CommandFailed(_exit_reason(code), inv.command, error_tail(both), exit_code=code)
        for name, tail in (("stdout", out), ("stderr", err)):
            if tail.dropped:
                log(f"{name} of {go_quote(inv.command)}: kept the last {tail.limit} bytes, dropped {tail.dropped}")
        return out.text().removesuffix("\n"), err.text().removesuffix("\n")
