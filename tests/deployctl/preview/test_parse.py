"""deployctl.preview.parse: both input shapes (preview --json and engine events) and both ways of receiving events, from the recordings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi.automation.events import EngineEvent

from deployctl.preview.analyse import COMPOSE_TYPE
from deployctl.preview.parse import event_to_dict, load_preview, preview_from_events, stack_of
from deployctl.preview.render import summarize
from tests.deployctl.preview import EVENT_RECORDINGS, PREVIEWS, RECORDINGS, pre_event, raw_events, summary
from tests.deployctl.previews.record import SCENARIOS

# --- the recordings themselves ------------------------------------------------------------------


def test_every_scenario_is_recorded_with_a_golden_summary() -> None:
    names = {p.name.removesuffix(".json") for p in EVENT_RECORDINGS}
    assert names == set(SCENARIOS)
    assert {"image-changed.preview.json", "image-pushed.preview.json"} <= {p.name for p in RECORDINGS}
    for path in RECORDINGS:
        assert path.with_suffix(".md").exists(), path.name


@pytest.mark.parametrize("path", EVENT_RECORDINGS, ids=lambda p: p.stem)
def test_recordings_are_engine_events_of_the_fixture_program(path: Path) -> None:
    events = json.loads(path.read_text())
    assert all(isinstance(e.get("sequence"), int) and "timestamp" in e for e in events)  # stamped by the engine
    assert [e["summaryEvent"]["isPreview"] for e in events if "summaryEvent" in e] == [True]
    types = {e["resourcePreEvent"]["metadata"]["type"] for e in events if "resourcePreEvent" in e}
    assert COMPOSE_TYPE in types
    compose = pre_event(events, "::backend")
    assert {"services", "compose_file", "env", "project_name", "compose_name"} <= set(compose["old"]["inputs"])
    assert compose["old"]["inputs"]["env"]["ciphertext"] == "[secret]"  # the engine masks the secret dotenv text


# --- both input shapes, both ways of receiving events -------------------------------------------


@pytest.mark.parametrize("scenario", ["image-changed", "image-pushed"])
def test_preview_json_shape_gives_the_same_summary_as_events(scenario: str) -> None:
    doc = json.loads((PREVIEWS / f"{scenario}.preview.json").read_text())
    assert "steps" in doc and "changeSummary" in doc  # really `pulumi preview --json` output
    assert summary(f"{scenario}.preview.json") == summary(f"{scenario}.json")


def test_automation_api_event_objects_give_the_same_summary() -> None:
    for path in EVENT_RECORDINGS:
        converted = [event_to_dict(EngineEvent.from_json(e)) for e in json.loads(path.read_text())]
        preview = preview_from_events(converted)
        assert summarize(stack_of(preview), preview) == path.with_suffix(".md").read_text(), path.name


def test_json_lines_event_log_is_accepted() -> None:
    lines = "\n".join(json.dumps(e) for e in raw_events("image-changed.json")) + "\n"
    preview = load_preview(lines)
    assert summarize("staging", preview) == summary("image-changed.json")


# --- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EVENT_RECORDINGS, ids=lambda p: p.stem)
def test_deterministic_whatever_the_event_order(path: Path) -> None:
    events = json.loads(path.read_text())
    forward = summarize("staging", preview_from_events(events))
    backward = summarize("staging", preview_from_events(list(reversed(events))))
    assert forward == backward == summarize("staging", preview_from_events(events))
