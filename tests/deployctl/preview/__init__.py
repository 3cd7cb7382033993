"""Tests of deployctl.preview on previews recorded from the real engine (previews/record.py), and their shared helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deployctl.preview import Preview, load_preview, stack_of, summarize

PREVIEWS = Path(__file__).resolve().parent.parent / "previews"
RECORDINGS = sorted(PREVIEWS.glob("*.json"))
EVENT_RECORDINGS = [p for p in RECORDINGS if not p.name.endswith(".preview.json")]


def load(name: str) -> Preview:
    return load_preview((PREVIEWS / name).read_text())


def raw_events(name: str) -> list[dict[str, Any]]:
    return json.loads((PREVIEWS / name).read_text())


def summary(name: str, **kw: Any) -> str:
    preview = load(name)
    return summarize(stack_of(preview), preview, **kw)


def pre_event(events: list[dict[str, Any]], urn_suffix: str, op: str | None = None) -> dict[str, Any]:
    for event in events:
        md = event.get("resourcePreEvent", {}).get("metadata", {})
        if md.get("urn", "").endswith(urn_suffix) and (op is None or md.get("op") == op):
            return md
    raise AssertionError(f"no resourcePreEvent for {urn_suffix}")
