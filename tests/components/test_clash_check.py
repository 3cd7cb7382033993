"""components.clash_check: the reading starts before the program's modules load (``begin``, from __main__.py) and the
program takes it (``start``); what is judged once the catalog is known."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pulumi
import pytest

from components import clash_check
from components.stack_config import read_deploy
from tests.components.test_program import Mocks, stack_config

Read = list[str]


@pytest.fixture
def mocks() -> Iterator[Mocks]:
    """The program's test stack (tests/components/test_program.py) under mocks; afterwards the runtime as it was before
    (no engine: pulumi.log writes to stderr, as tests/components/test_compose_project_outages.py reads it; no root
    stack resource whose futures belong to this test's event loop, which test_program.py's tests would await in theirs)."""
    m = Mocks()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(m, project="bizosaas-deploy", stack="staging", preview=False)
    pulumi.runtime.set_all_config(*stack_config())
    yield m
    pulumi.runtime.reset_options(project="project", stack="stack", root_directory="root_directory", organization="organization")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Read:
    """Each read of the other projects (by the key it was made with), answered with nothing."""
    seen: Read = []
    monkeypatch.setattr(clash_check, "_reader", lambda deploy, key: lambda: seen.append(key) or clash_check.Listing())
    monkeypatch.setattr(clash_check, "_begun", {})
    return seen


def test_begin_starts_reading_for_the_running_stack_and_the_program_takes_that_read(mocks: Mocks, reads: Read) -> None:
    clash_check.begin()
    deploy = read_deploy(pulumi.Config("bizosaas-deploy"), "staging")
    begun = clash_check.start(deploy)
    assert begun is not None and begun.result(timeout=10) == clash_check.Listing()
    assert len(reads) == 1 and reads[0]  # read once, with the stack's key
    again = clash_check.start(deploy)  # taken once: another program run reads again
    assert again is not None and again is not begun and again.result(timeout=10) == clash_check.Listing() and len(reads) == 2


def test_begin_says_nothing_and_reads_nothing_when_the_config_cannot_be_read(mocks: Mocks, reads: Read) -> None:
    cfg, secret_keys = stack_config()
    pulumi.runtime.set_all_config({**cfg, "bizosaas-deploy:deployTimeout": "soon"}, secret_keys)
    clash_check.begin()  # the program's own checks say what is wrong
    assert clash_check._begun == {} and reads == []


def test_the_read_runs_in_a_daemon_thread_so_a_stopped_program_does_not_wait_for_dokploy(mocks: Mocks) -> None:
    names: list[tuple[str, bool]] = []

    def lister() -> clash_check.Listing:
        names.append((threading.current_thread().name, threading.current_thread().daemon))
        return clash_check.Listing()

    assert clash_check.start(read_deploy(pulumi.Config("bizosaas-deploy"), "staging"), lister).result(timeout=10) == clash_check.Listing()
    assert names == [("clash-check", True)]


def test_a_stack_that_asks_for_no_port_and_no_route_is_not_judged_and_a_keyless_preview_says_so(
    mocks: Mocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.program import _catalog

    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **kw: warnings.append(msg))
    catalog = _catalog("staging", pulumi.Config("bizosaas-deploy"), [])
    assert catalog is not None and clash_check.wanted(catalog)
    assert clash_check.problems("staging", catalog, {}, None, preview=True) == []
    assert any("this preview has no Dokploy API key, so the host ports and routes it asks for were not checked" in w for w in warnings)
    cfg, secret_keys = stack_config()
    quiet = {**cfg, "bizosaas-deploy:services": json.dumps({}), "bizosaas-deploy:routes": json.dumps({"enabled": False})}
    pulumi.runtime.set_all_config(quiet, secret_keys)
    unasked = _catalog("staging", pulumi.Config("bizosaas-deploy"), [])
    assert unasked is not None and not clash_check.wanted(unasked)
    warnings.clear()
    assert clash_check.problems("staging", unasked, {}, None, preview=True) == [] and warnings == []
