"""How `pytest -n N --dist loadfile` spreads the suite over its workers: a whole module per worker (its shared world stays
in one process and its tests run in order), the slowest modules first, and a worker's next module sent only when it is on
the last test of the one it has.

pytest-xdist's loadfile sends modules in collection order (or by number of tests) and queues a further module on a worker
as soon as two of its tests are left: behind a long engine module that pins the next one to a busy worker while another
sits idle at the end of the run. Slowest first (tests/durations.py: this checkout's last runs, else tests/durations.json)
keeps the longest modules from starting last. A module without a figure counts as an engine module's when it lives in
tests/engine/ or tests/conformance/ (they start stand-ins and deploy), else as a unit test's per test.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

from tests.durations import module_of, module_seconds

UNKNOWN_HEAVY = 90.0
"""Seconds assumed for a module of tests/engine/ or tests/conformance/ that has no figure yet."""
UNKNOWN_PER_TEST = 0.5
"""Seconds per test assumed for any other module without a figure."""
HEAVY = ("tests/engine/", "tests/conformance/")


class SlowestModuleFirst(LoadFileScheduling):
    """loadfile, slowest module first, one module ahead at most."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self.seconds = module_seconds()

    def cost(self, scope: str) -> float:
        module = module_of(scope)
        if module in self.seconds:
            return self.seconds[module]
        return UNKNOWN_HEAVY if module.startswith(HEAVY) else UNKNOWN_PER_TEST * len(self.workqueue[scope])

    def _assign_work_unit(self, node: Any) -> None:
        slowest = max(self.workqueue, key=self.cost)
        self.workqueue.move_to_end(slowest, last=False)  # the base class takes the first
        super()._assign_work_unit(node)

    def _reschedule(self, node: Any) -> None:
        """The base class's, with a next module only when one test is left (the worker holds it until it knows the next)."""
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        if self._pending_of(self.assigned_work[node]) > 1:
            return
        self._assign_work_unit(node)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadFileScheduling | None:
    """Ours for --dist loadfile (what scripts/test.sh asks for); any other --dist keeps pytest-xdist's own."""
    if config.getoption("dist") != "loadfile":
        return None
    return SlowestModuleFirst(config, log)
