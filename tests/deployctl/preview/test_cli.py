"""python -m deployctl.preview: the command line that writes the summary (from a recording, or running the preview itself)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployctl.preview.__main__ import main
from tests.deployctl.preview import PREVIEWS, raw_events
from tests.deployctl.previews.record import SCENARIOS


def test_cli_writes_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "summary.md"
    assert main(["--stack", "staging", "--input", str(PREVIEWS / "image-changed.json"), "--out", str(out)]) == 0
    assert out.read_text() == (PREVIEWS / "image-changed.md").read_text()
    assert main(["--stack", "staging", "--input", str(PREVIEWS / "no-changes.json"), "--out", str(out)]) == 0
    assert out.read_text() == "**staging**: no changes.\n"


def test_a_failed_preview_says_so_and_exits_non_zero(tmp_path: Path) -> None:
    events = raw_events("image-changed.json")
    events.append({"diagnosticEvent": {"severity": "error", "message": "bizosaas-deploy:dokployApiKey: is required\n"}, "sequence": 99})
    path = tmp_path / "failed.json"
    path.write_text(json.dumps(events))
    out = tmp_path / "summary.md"
    assert main(["--stack", "staging", "--input", str(path), "--out", str(out)]) == 1
    text = out.read_text()
    assert text.splitlines()[1] == "**staging**: preview FAILED (1 error); nothing will be deployed from this plan."
    assert "bizosaas-deploy:dokployApiKey: is required" in text


def test_a_non_zero_preview_exit_code_marks_the_summary_failed(tmp_path: Path) -> None:
    out = tmp_path / "summary.md"
    code = main(["--stack", "prod", "--input", str(PREVIEWS / "no-changes.json"), "--out", str(out), "--preview-exit-code", "255"])
    assert code == 1
    text = out.read_text()
    assert text.startswith("### Pulumi preview: `prod`\n**prod**: preview FAILED (1 error)")
    assert "pulumi preview exited with status 255 (see the workflow log)" in text


@pytest.mark.engine
def test_without_input_the_cli_runs_the_preview_through_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--stack alone: deployctl.engine.stack(...).preview(on_event=...) with the real engine, summarised."""
    from deployctl import engine
    from tests.deployctl.previews import record

    env = record.engine_env(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    st = record.fixture_stack(SCENARIOS["image-changed"], tmp_path, env)
    monkeypatch.setattr(engine, "stack", lambda name: st if name == "staging" else pytest.fail(name))
    out = tmp_path / "summary.md"
    assert main(["--stack", "staging", "--out", str(out)]) == 0
    assert out.read_text() == (PREVIEWS / "image-changed.md").read_text()
