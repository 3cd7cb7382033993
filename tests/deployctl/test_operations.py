"""deployctl.operations.up through the real engine, on a tiny inline program: what `deployctl up` reads after `pulumi up`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from deployctl import engine, operations
from tests.engine_helpers import tiny_project

pytestmark = pytest.mark.engine


def test_an_up_without_results_reads_nothing_after_it_and_its_summary_is_the_engines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`deployctl up` and the benchmark: no `pulumi stack output` and no `pulumi stack history` after the up (each one
    more engine process decrypting the stack's secrets); the summary comes from the engine's summary event."""
    monkeypatch.setenv("PULUMI_BACKEND_URL", (tmp_path / "backend").as_uri())
    work = tiny_project(tmp_path, "ops")
    words = ["first"]

    def program() -> None:
        pulumi.export("word", words[0])

    real = engine.stack
    monkeypatch.setattr(engine, "stack", lambda name: real(name, program=program, work_dir=work))
    first, _ = operations.up("ops", quiet=True)  # the default: the Automation API's reads, as before
    assert first.outputs["word"].value == "first" and first.summary.resource_changes == {"create": 1}

    def refused(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("read after the up")

    monkeypatch.setattr(auto.Stack, "outputs", refused)
    monkeypatch.setattr(auto.Stack, "info", refused)
    words[0] = "second"
    result, _ = operations.up("ops", quiet=True, results=False)
    assert dict(result.outputs) == {} and result.summary.resource_changes == {"same": 1} and result.summary.result == "succeeded"
    with pytest.raises(AssertionError, match="read after the up"):
        operations.up("ops", quiet=True)
    assert real("ops", program=program, work_dir=work).workspace.stack_outputs("ops")["word"].value == "second"
