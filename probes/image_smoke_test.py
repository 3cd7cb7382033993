"""The default pre-push test of one local image: start it, wait for its health path on its catalog port, stop it.

Run by each service's gate (``components/test_gate.py``, a ``command:local:Command``) from the
project directory, on this machine or a user's, with the project's virtualenv::

    venv/bin/python -m probes.image_smoke_test --service brain-api --image sha256:... --port 8001 \\
        --health /health [--timeout 120] [--image-name bizosaas-brain-gateway:latest] [-- TEST ARGV...]

1. Starts the image *by id* (exactly the image that is then tagged and pushed) as a throwaway
   container: a unique name (``bizosaas-test-<service>-<hex>``), ``bizosaas.test*`` labels, the
   catalog port published on 127.0.0.1 at a free host port, ``--pull never``. Its environment is
   only what ``BIZOSAAS_TEST_ENV`` holds (a JSON object the gate builds from the catalog: the
   service's plain values and its ``test_env`` placeholders, never a secret).
2. Waits until ``GET http://127.0.0.1:<host port><health>`` answers 2xx, for at most ``--timeout``
   seconds; the published port reaches the container's catalog port, so a 2xx also proves the
   service listens on that port. Probed from the host, not with ``docker exec wget``: the
   platform's images need no wget or curl for this. A container that exits fails at once.
3. When it does not answer, says why: the HTTP status it answered, or the TCP ports it listens on
   instead of the catalog port (read from ``/proc/<pid>/net/tcp*`` of a local Linux engine, else
   with ``docker exec cat``), or its exit code; then the last lines of the container's output.
4. Runs the service's own test argv inside the container (``docker exec``), when given.
5. Always removes the container (``docker rm -f``): in ``finally``, on SIGTERM/SIGINT/SIGHUP, and,
   when this process is killed outright (SIGKILL: a cancelled ``pulumi up``), by a detached reaper
   that outlives it. After a pass, the removal runs detached (this process does not wait for it).

Needs a Docker Engine on this machine (unix socket or a loopback ``DOCKER_HOST``): build once,
test locally. Prints one line; on failure one line naming the service and why, then at most
``LOG_LINES`` lines of output. Exit 0: passed, 1: failed, 2: cannot run the test, 128+N: signal N.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

ENV_VAR = "BIZOSAAS_TEST_ENV"
"""JSON object: the test container's whole environment (non-secret values only)."""
LABEL = "bizosaas.test"
LOG_LINES = 15
LINE_CHARS = 300
POLL = 0.3
REQUEST_TIMEOUT = 2.0
DOCKER_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "XDG_RUNTIME_DIR", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT",
              "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION")
REAPER = (
    'while kill -0 "$1" 2>/dev/null; do sleep 1; done; '
    'docker rm -f "$2" >/dev/null 2>&1; sleep 2; docker rm -f "$2" >/dev/null 2>&1'
)
REMOVE = 'docker rm -f -v "$1" >/dev/null 2>&1 || { sleep 2; docker rm -f -v "$1" >/dev/null 2>&1; }'
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
TCP_LISTEN = "0A"


class TestFailed(Exception):
    """The image failed its test: ``reason`` for the summary line, ``details`` below it."""

    def __init__(self, reason: str, details: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = list(details)


class CannotTest(Exception):
    """The test could not run (bad arguments, no local Docker Engine, the image cannot start)."""


class Interrupted(BaseException):
    """A signal asked this process to stop (BaseException: nothing in between swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass(frozen=True)
class Listener:
    """One TCP socket in LISTEN state inside the container."""

    address: str
    port: int

    @property
    def loopback_only(self) -> bool:
        return self.address.startswith("127.") or self.address in ("::1", "::ffff:127.0.0.1")

    def __str__(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


@dataclass(frozen=True)
class Options:
    service: str
    image: str
    image_name: str
    port: int
    health: str
    timeout: float
    test: tuple[str, ...]
    env: dict[str, str]


# --- pure helpers ----------------------------------------------------------------------------------


def parse_proc_net_tcp(text: str, v6: bool = False) -> list[Listener]:
    """The LISTEN sockets of a /proc/net/tcp (or tcp6) table."""
    out: list[Listener] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != TCP_LISTEN or ":" not in fields[1]:
            continue
        address, port = fields[1].rsplit(":", 1)
        try:
            out.append(Listener(_address(address, v6), int(port, 16)))
        except ValueError:
            continue
    return out


def _address(hex_address: str, v6: bool) -> str:
    raw = bytes.fromhex(hex_address)
    if not v6:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))  # four host-order 32-bit words
    return socket.inet_ntop(socket.AF_INET6, words)


def clean_line(line: str) -> str:
    text = _CONTROL.sub(" ", line.rstrip())
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def last_lines(text: str, count: int = LOG_LINES) -> list[str]:
    lines = [clean_line(line) for line in text.splitlines() if line.strip()]
    return lines[-count:]


def port_reason(port: int, listeners: list[Listener] | None) -> str:
    """Why nothing answered on the catalog port, from the sockets the container listens on."""
    if listeners is None:
        return f"nothing answered on its catalog port {port} (its listening ports could not be read)"
    ports = sorted({item.port for item in listeners})
    on_port = [item for item in listeners if item.port == port]
    if on_port and all(item.loopback_only for item in on_port):
        where = ", ".join(str(item) for item in on_port)
        return f"it listens on its catalog port {port} only on loopback ({where}): unreachable from other containers; bind 0.0.0.0"
    if not ports:
        return f"it listens on no TCP port, not on its catalog port {port}"
    if port not in ports:
        return f"it listens on port{'s' if len(ports) > 1 else ''} {', '.join(str(p) for p in ports)}, not on its catalog port {port}"
    return f"its catalog port {port} is open but GET returned no HTTP answer"


def env_file_text(env: dict[str, str]) -> str:
    """``docker run --env-file`` lines: NAME=value, taken literally (no quotes, no interpolation)."""
    for name, value in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or "\n" in value or "\r" in value or "\0" in value:
            raise CannotTest(f"{ENV_VAR}: {name!r} cannot be passed to a container (a name of letters, digits, _; one-line values)")
    return "".join(f"{name}={value}\n" for name, value in sorted(env.items()))


def check_local_engine(docker_host: str) -> None:
    """The published port is probed at 127.0.0.1: the engine must run on this machine."""
    if not docker_host or docker_host.startswith(("unix://", "npipe://")):
        return
    host = urlsplit(docker_host).hostname or ""
    if docker_host.startswith("tcp://") and (host in ("localhost", "::1") or host.startswith("127.")):
        return
    raise CannotTest(
        f"DOCKER_HOST={docker_host} is not a Docker Engine on this machine: the test probes the container's published port on "
        "127.0.0.1 (build once, test locally); run the up where the images are built, or set testGate: false for this stack"
    )


# --- docker ----------------------------------------------------------------------------------------


def docker_env() -> dict[str, str]:
    """The docker CLI's environment: only what it reads (never the engine's secrets and passphrases)."""
    return {k: v for k, v in os.environ.items() if k in DOCKER_ENV}


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=docker_env(), check=False)


def start_reaper(name: str) -> subprocess.Popen[bytes]:
    """A detached shell that removes the container once this process is gone, however it ended (even SIGKILL)."""
    return subprocess.Popen(
        ["/bin/sh", "-c", REAPER, "bizosaas-test-reaper", str(os.getpid()), name],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, env=docker_env(),
    )


def stop_reaper(reaper: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(reaper.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        reaper.wait(timeout=5)


def remove(name: str) -> None:
    docker("rm", "-f", "-v", name, timeout=60)


def remove_detached(name: str) -> None:
    """``docker rm -f`` in a detached process (tried again once if it fails), so that a passed test need not wait for it:
    nothing of it holds this process's output (the command that runs the test waits for that), and it outlives it."""
    subprocess.Popen(
        ["/bin/sh", "-c", REMOVE, "bizosaas-test-remove", name],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=docker_env(),
    )


def container_logs(name: str) -> list[str]:
    run = docker("logs", "--tail", str(LOG_LINES), name, timeout=30)
    return last_lines(run.stdout + run.stderr)


def container_state(name: str) -> tuple[str, int]:
    run = docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name, timeout=30)
    status, _, code = run.stdout.strip().partition(" ")
    return (status or "gone"), int(code or 0)


def listeners(name: str) -> list[Listener] | None:
    """The container's LISTEN sockets: its network namespace seen from the host, else through ``docker exec cat``."""
    pid = docker("inspect", "-f", "{{.State.Pid}}", name, timeout=30).stdout.strip()
    tables: list[tuple[str, bool]] = []
    if pid.isdigit() and pid != "0":
        for table, v6 in (("tcp", False), ("tcp6", True)):
            with contextlib.suppress(OSError):
                tables.append((Path(f"/proc/{pid}/net/{table}").read_text(), v6))
    if not tables:
        for table, v6 in (("tcp", False), ("tcp6", True)):
            run = docker("exec", name, "cat", f"/proc/net/{table}", timeout=30)
            if run.returncode == 0:
                tables.append((run.stdout, v6))
    if not tables:
        return None
    return [item for text, v6 in tables for item in parse_proc_net_tcp(text, v6)]


def published_port(name: str, port: int) -> int | None:
    """The host port 127.0.0.1 reaches the container's ``port`` on (None: none, e.g. the container has already exited)."""
    run = docker("port", name, f"{port}/tcp", timeout=30)
    for line in run.stdout.splitlines():
        host, _, number = line.strip().rpartition(":")
        if host in ("127.0.0.1", "0.0.0.0") and number.isdigit():
            return int(number)
    return None


# --- HTTP ------------------------------------------------------------------------------------------

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 never through a proxy


def get(url: str, timeout: float) -> tuple[int | None, str]:
    """(HTTP status, "") or (None, why there was no HTTP answer)."""
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status), ""
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""
    except urllib.error.URLError as exc:
        return None, _why(exc.reason)
    except (HTTPException, OSError) as exc:
        return None, _why(exc)


def _why(error: object) -> str:
    """A connection error in a few words (``connection reset by peer``, ``timed out``)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    if isinstance(error, BaseException):
        return str(error).lower() or type(error).__name__
    return str(error)


# --- the test --------------------------------------------------------------------------------------


def run_test(opts: Options, clock: Callable[[], float] = time.monotonic) -> str:
    """Start, probe, (test,) remove; the pass line, or TestFailed / CannotTest / Interrupted."""
    check_local_engine(os.environ.get("DOCKER_HOST", ""))
    name = f"bizosaas-test-{opts.service}-{secrets.token_hex(4)}"
    reaper = start_reaper(name)
    env_path = ""
    created = passed = False
    try:
        fd, env_path = tempfile.mkstemp(prefix="bizosaas-test-env-")
        with os.fdopen(fd, "w") as fh:  # mkstemp: 0600, never on a command line
            fh.write(env_file_text(opts.env))
        started = clock()
        run = docker(
            "run", "-d", "--pull", "never", "--name", name, "--env-file", env_path,
            "--label", f"{LABEL}=image-smoke-test", "--label", f"{LABEL}.service={opts.service}",
            "--label", f"{LABEL}.pid={os.getpid()}", "--label", f"{LABEL}.host={socket.gethostname()}",
            "-p", f"127.0.0.1::{opts.port}", opts.image,
            timeout=120,
        )
        created = True  # docker run returned: no creation is still under way
        if run.returncode != 0:
            raise CannotTest(f"docker run {opts.image} failed: {' / '.join(last_lines(run.stderr, 5))}")
        host_port = published_port(name, opts.port)
        if host_port is None:
            fail_if_exited(opts, name, started, clock)
            raise CannotTest(f"docker port {name} {opts.port}/tcp: the running container has no published port")
        status, answered = wait_healthy(opts, name, f"http://127.0.0.1:{host_port}{opts.health}", started, clock)
        line = f"image test of {opts.service} passed: GET {opts.health} on port {opts.port} answered {status} after {answered:.1f}s"
        if opts.test:
            run_own_test(opts, name)
            line += f"; its test ({' '.join(opts.test)}) passed"
        passed = True
        return line + f" [{short(opts.image)}]"
    finally:
        with _signals_deferred():
            if passed:  # the image passed: its push need not wait for the removal (~0.3 s), which happens right after
                remove_detached(name)
            else:
                remove(name)
            if created:  # else docker run was cut short: the daemon may still create it, the reaper removes it again later
                stop_reaper(reaper)
            if env_path:
                with contextlib.suppress(OSError):
                    os.unlink(env_path)


def wait_healthy(opts: Options, name: str, url: str, started: float, clock: Callable[[], float]) -> tuple[int, float]:
    """Poll until 2xx (status, seconds) or raise TestFailed with why."""
    deadline = started + opts.timeout
    status: int | None = None
    error = ""
    while True:
        status, error = get(url, min(REQUEST_TIMEOUT, max(deadline - clock(), 0.2)))
        if status is not None and 200 <= status < 300:
            return status, clock() - started
        if status is None:
            fail_if_exited(opts, name, started, clock)
        if clock() >= deadline:
            break
        time.sleep(POLL)
    if status is not None:
        reason = f"GET {opts.health} on its catalog port {opts.port} answered HTTP {status}, not 2xx, for {opts.timeout:g}s"
    else:
        last = clean_line(error) or "no answer"
        reason = port_reason(opts.port, listeners(name)) + f" (GET {opts.health} got no HTTP answer in {opts.timeout:g}s: {last})"
    raise TestFailed(reason, _context(opts, name))


def fail_if_exited(opts: Options, name: str, started: float, clock: Callable[[], float]) -> None:
    state, code = container_state(name)
    if state != "running":
        raise TestFailed(
            f"the container exited with code {code} after {clock() - started:.1f}s, before {opts.health} answered", _context(opts, name)
        )


def run_own_test(opts: Options, name: str) -> None:
    """The catalog's ``test:`` argv, inside the running container."""
    try:
        run = docker("exec", name, *opts.test, timeout=opts.timeout)
    except subprocess.TimeoutExpired:
        raise TestFailed(f"its test ({' '.join(opts.test)}) did not finish within {opts.timeout:g}s", _context(opts, name)) from None
    if run.returncode != 0:
        output = last_lines(run.stdout + "\n" + run.stderr)
        raise TestFailed(
            f"its test ({' '.join(opts.test)}) exited with status {run.returncode}",
            [f"  image: {_image_label(opts)}", f"  last lines of the test's output ({len(output)}):", *(f"    {x}" for x in output)],
        )


def _context(opts: Options, name: str) -> list[str]:
    logs = container_logs(name)
    lines = [
        f"  image: {_image_label(opts)}",
        f"  expected: GET {opts.health} on port {opts.port} (catalog.yaml services/{opts.service}: port, health) answering 2xx",
    ]
    if logs:
        lines += [f"  last lines of the container's output ({len(logs)}):", *(f"    {x}" for x in logs)]
    else:
        lines.append("  the container printed nothing")
    return lines


def _image_label(opts: Options) -> str:
    return f"{opts.image_name} ({short(opts.image)})" if opts.image_name and opts.image_name != opts.image else short(opts.image)


def short(image: str) -> str:
    return image[:19] if image.startswith("sha256:") else image


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Clean-up runs to the end: a second Ctrl-C during it is remembered and raised afterwards."""
    pending: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: pending.append(signum)) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pending:
            raise Interrupted(pending[0])


_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m probes.image_smoke_test", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", required=True)
    parser.add_argument("--image", required=True, help="the local image id (sha256:...) or name")
    parser.add_argument("--image-name", default="", help="the image's local name, for messages")
    parser.add_argument("--port", type=int, required=True, help="the catalog's container port")
    parser.add_argument("--health", required=True, help="the catalog's health path")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for the health path to answer 2xx (and for the test)")
    parser.add_argument("test", nargs="*", help="after --: the service's own test argv, run inside the container")
    args = parser.parse_args(list(argv))
    if not 1 <= args.port <= 65535 or not args.health.startswith("/") or args.timeout <= 0:
        parser.error("--port must be 1-65535, --health a path starting with '/', --timeout positive")
    try:
        env = json.loads(os.environ.get(ENV_VAR) or "{}")
    except ValueError:
        parser.error(f"{ENV_VAR} is not JSON")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        parser.error(f"{ENV_VAR} must be a JSON object of strings")
    return Options(args.service, args.image, args.image_name, args.port, args.health, args.timeout, tuple(args.test), env)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    for sig in _SIGNALS:
        signal.signal(sig, _raise_interrupted)
    try:
        print(run_test(opts), flush=True)
        return 0
    except TestFailed as exc:
        print(f"image test of service {opts.service} FAILED: {exc.reason}", *exc.details, sep="\n", flush=True)
        return 1
    except CannotTest as exc:
        print(f"image test of service {opts.service} could not run: {exc}", flush=True)
        return 2
    except subprocess.TimeoutExpired as exc:
        print(f"image test of service {opts.service} could not run: {' '.join(map(str, exc.cmd))[:200]} timed out", flush=True)
        return 2
    except Interrupted as exc:
        print(f"image test of service {opts.service} interrupted by {exc}; its container was removed", flush=True)
        return 128 + exc.signum


if __name__ == "__main__":
    sys.exit(main())
