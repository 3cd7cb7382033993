"""Free TCP ports on loopback for tests, never handed to two tests of this machine within RESERVE_S.

Asking the kernel (bind port 0, read the port, close) leaves a window until the test's server or container binds it, in
which the kernel may give the same port to the next asker: with the suite's modules side by side (pytest-xdist workers)
and other checkouts' suites on the same machine, two tests could be handed one port. So every port handed out is noted,
with the time, in one file for the whole machine (RESERVATIONS, under an exclusive lock), and a port noted less than
RESERVE_S ago is never handed out again; the kernel still says which ports are free now.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import random
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

RESERVATIONS = Path(tempfile.gettempdir()) / "bizosaas-test-ports.json"
RESERVE_S = 900.0
"""How long a port handed out stays reserved: longer than a test module keeps one before binding it."""

EVERY_ADDRESS = ("0.0.0.0", "::")
"""Checked besides the hosts a test asks for: Docker publishes on 0.0.0.0 (and [::]) unless told an address, and a
listener on any address (another checkout's container on 0.0.0.0, a server on 127.0.0.2 or the bridge's address) makes
Docker's "driver failed programming external connectivity" for a port that looked free on 127.0.0.1."""


def _bindable(host: str, port: int) -> bool:
    """Whether a TCP socket can bind host:port now (no SO_REUSEADDR: a port some socket still holds counts as taken).
    "::" is dual-stack, so it is taken when anything listens on the port on any IPv4 or IPv6 address; skipped where the
    kernel has no IPv6."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
    except OSError:  # no IPv6 here
        return True
    with s:
        try:
            s.bind((host, port))
        except OSError as err:
            return family == socket.AF_INET6 and err.errno == errno.EADDRNOTAVAIL
    return True


def _free_everywhere(port: int, hosts: tuple[str, ...]) -> bool:
    """Whether nothing holds port on any of hosts, nor on any address at all (EVERY_ADDRESS)."""
    return all(_bindable(host, port) for host in (*hosts, *EVERY_ADDRESS))


def _kernel_port(hosts: tuple[str, ...]) -> int | None:
    """A port the kernel says is free on hosts[0] that is free on the other hosts and every address too (None: taken)."""
    with socket.socket() as s:
        s.bind((hosts[0], 0))
        port = int(s.getsockname()[1])
    return port if _free_everywhere(port, hosts) else None


@contextlib.contextmanager
def _noted() -> Iterator[dict[int, float]]:
    """The ports handed out less than RESERVE_S ago (port -> when), under the machine-wide lock; written back after."""
    RESERVATIONS.touch(exist_ok=True)
    with RESERVATIONS.open("r+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            now = time.time()
            try:
                noted = {int(p): float(t) for p, t in json.loads(fh.read() or "{}").items() if now - float(t) < RESERVE_S}
            except ValueError:  # a file cut short (a killed writer): start afresh
                noted = {}
            yield noted
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(noted))
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def free_ports(count: int, hosts: tuple[str, ...] = ("127.0.0.1",)) -> list[int]:
    """``count`` different ports nothing listens on, on every one of ``hosts``, handed out to no other test recently."""
    with _noted() as noted:
        ports: list[int] = []
        while len(ports) < count:
            port = _kernel_port(hosts)
            if port is not None and port not in noted and port not in ports:
                ports.append(port)
        noted.update(dict.fromkeys(ports, time.time()))
    return ports


def claim(wanted: list[int], host: str = "127.0.0.1") -> bool:
    """Hand out exactly these ports (a test needing a block of them, e.g. the catalog's published ports plus an offset):
    True and noted when every one is free on ``host`` and on every address now (EVERY_ADDRESS) and none was handed out
    recently, else False and none noted."""
    with _noted() as noted:
        if any(port in noted for port in wanted):
            return False
        if not all(_free_everywhere(port, (host,)) for port in wanted):
            return False
        noted.update(dict.fromkeys(wanted, time.time()))
    return True


def ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (ports it hands to port-0 binds and outgoing connections)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_offset(published: list[int], shifts: tuple[int, ...] = (0,), lowest: int = 10000) -> int:
    """An offset (a multiple of 100) under which every one of ``published`` plus the offset plus each of ``shifts`` is
    claimed (claim): a block of host ports for a catalog's published ports, e.g. a stack's and, 100 above, its prod's.
    The block lies between ``lowest`` and the kernel's ephemeral range: a port in that range, free when claimed, can be
    taken by any process's port-0 listener (a plugin's gRPC server) or outgoing connection before Docker binds it again
    after a redeploy."""
    low = max(0, lowest - min(published))
    high = ephemeral_start() - max(published) - max(shifts)
    if high <= low:
        raise RuntimeError(f"no room for a block of host ports between {lowest} and the ephemeral range ({ephemeral_start()})")
    for _ in range(100):
        offset = random.randrange(low, high, 100)
        if claim([p + offset + shift for p in published for shift in shifts]):
            return offset
    raise RuntimeError(f"no free block of host ports for {len(published)} ports x shifts {shifts} in [{lowest}, {ephemeral_start()})")


def free_port(host: str = "127.0.0.1") -> int:
    """One port, as free_ports."""
    return free_ports(1, (host,))[0]
