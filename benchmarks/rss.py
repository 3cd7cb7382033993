"""Peak memory of the engine's processes: a thread reads /proc every 50 ms while a command runs.

Every descendant of this process is classified by its command line (the `pulumi` engine, the language host
running the program, each plugin, the docker CLI); per kind the peak is the largest ``VmHWM`` (the kernel's
resident-set high-water mark of the process, so a peak between two samples still counts) of any process of
that kind seen alive. A process that starts and ends between two samples (a 20 ms docker CLI call) can be missed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

Test = Callable[[list[str]], bool]
KINDS: tuple[tuple[str, Test], ...] = (
    ("engine (pulumi)", lambda argv: Path(argv[0]).name == "pulumi"),
    ("language host + program", lambda argv: "testkit.language_host" in argv or Path(argv[0]).name == "pulumi-language-python"),
    ("docker plugin (stand-in)", lambda argv: "testkit.docker_plugin" in argv),
    ("command plugin (stand-in)", lambda argv: any("command_plugin" in a for a in argv)),
    ("dynamic-provider host", lambda argv: "pulumi.dynamic" in argv),
)


def kind_of(argv: list[str]) -> str:
    for name, test in KINDS:
        if argv and test(argv):
            return name
    return "other (docker CLI, tests, ...)"


def children_of(root: int) -> dict[int, list[str]]:
    """pid -> argv of every live descendant of ``root``."""
    parent: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        parent[int(entry.name)] = int(fields[1])
    found: dict[int, list[str]] = {}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier and pid not in found}
        for pid in frontier:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            found[pid] = [a.decode(errors="replace") for a in argv if a]
    return found


def hwm_kib(pid: int) -> int:
    """VmHWM of a live process in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


class PeakRss:
    """``with PeakRss() as peak: run()``; then ``peak.mib`` is kind -> peak MiB."""

    def __init__(self, interval: float = 0.05, root: int | None = None) -> None:
        self.interval = interval
        self.root = root or os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._peak: dict[int, tuple[str, int]] = {}

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        for pid, argv in children_of(self.root).items():
            kib = hwm_kib(pid)
            if kib:
                self._peak[pid] = (kind_of(argv), max(kib, self._peak.get(pid, ("", 0))[1]))

    @property
    def mib(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind, kib in self._peak.values():
            out[kind] = max(out.get(kind, 0.0), kib / 1024)
        return dict(sorted(out.items()))
