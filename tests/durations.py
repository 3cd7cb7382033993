"""Where the suite's time goes: each test's duration (setup + call + teardown, so a module's shared world counts on the
test that starts it) recorded after every run in .state/test-durations.json, and ``--slowest N`` printing the N slowest.

The controller records (under pytest-xdist the workers' reports reach it): one file per checkout, merged test by test,
so a run of a few files updates only theirs. tests/schedule.py reads it to send the slowest modules out first;
tests/durations.json (committed) holds the per-module figures for a fresh clone, where .state is empty.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / ".state" / "test-durations.json"
COMMITTED = Path(__file__).resolve().parent / "durations.json"


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def recorded() -> dict[str, float]:
    """Seconds per test of the runs recorded in this checkout ({} before the first)."""
    try:
        data = json.loads(RECORDED.read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def module_seconds() -> dict[str, float]:
    """Seconds per test module: this checkout's last runs where it has them, else the committed figures."""
    try:
        committed = {k: float(v) for k, v in json.loads(COMMITTED.read_text()).items()}
    except (OSError, ValueError):
        committed = {}
    mine: dict[str, float] = defaultdict(float)
    for nodeid, seconds in recorded().items():
        mine[module_of(nodeid)] += seconds
    return {**committed, **mine}


class Recorder:
    """Sums each test's phases as the reports arrive, writes them at the end, prints the slowest."""

    def __init__(self, slowest: int) -> None:
        self.slowest = slowest
        self.seconds: dict[str, float] = defaultdict(float)
        self.worker: dict[str, str] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] += report.duration
        node = getattr(report, "node", None)  # pytest-xdist: the worker that ran it
        if node is not None:
            self.worker[report.nodeid] = str(node.gateway.id)

    @pytest.hookimpl
    def pytest_sessionfinish(self) -> None:
        if not self.seconds:
            return
        merged = {**recorded(), **{k: round(v, 3) for k, v in self.seconds.items()}}
        RECORDED.parent.mkdir(parents=True, exist_ok=True)
        tmp = RECORDED.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(merged, indent=0, sort_keys=True) + "\n")
        tmp.replace(RECORDED)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.slowest or not self.seconds:
            return
        terminalreporter.write_sep("=", f"the {self.slowest} slowest tests (setup + call + teardown)")
        for nodeid, seconds in sorted(self.seconds.items(), key=lambda kv: -kv[1])[: self.slowest]:
            where = f"  [{self.worker[nodeid]}]" if nodeid in self.worker else ""
            terminalreporter.write_line(f"{seconds:8.1f}s  {nodeid}{where}")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slowest", type=int, default=0, metavar="N", help="print the N slowest tests (setup + call + teardown) at the end")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller records
        return
    config.pluginmanager.register(Recorder(config.getoption("slowest")), "bizosaas-durations")
