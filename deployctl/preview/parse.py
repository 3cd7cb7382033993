"""Parse a Pulumi preview (``pulumi preview --json`` steps or engine events) into one Step per resource.

Accepted: the stdout of ``pulumi preview --json`` ({"steps": [...], "changeSummary": ...}) or engine
events (``pulumi preview --event-log FILE``: JSON lines; or a JSON list of them; the Automation
API's on_event objects are converted by ``event_to_dict``). Secret envelopes become ``SECRET``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.wire import is_secret_envelope

SECRET = "[secret]"  # how the engine masks a secret value in events and in --json
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced", "discard-replaced", "import-replacement"})


@dataclass(frozen=True)
class Step:
    """One resource's planned operation (all engine events of one URN merged)."""

    urn: str
    type: str
    op: str
    old_inputs: Mapping[str, Any] | None = None
    old_outputs: Mapping[str, Any] | None = None
    new_inputs: Mapping[str, Any] | None = None
    parent: str = ""
    diff_keys: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return urn_name(self.urn)


@dataclass(frozen=True)
class Preview:
    steps: tuple[Step, ...]
    errors: tuple[str, ...] = ()


def urn_name(urn: str) -> str:
    parts = urn.split("::", 3)
    return parts[3] if len(parts) == 4 else urn


def urn_type(urn: str) -> str:
    parts = urn.split("::", 3)
    return parts[2].split("$")[-1] if len(parts) == 4 else ""


def urn_stack(urn: str) -> str:
    head = urn.split("::", 1)[0]
    return head.split(":", 2)[2] if head.startswith("urn:pulumi:") else ""


def clean(value: Any) -> Any:
    """Secret envelopes -> SECRET (whatever they hold); everything else as is."""
    if isinstance(value, Mapping):
        if is_secret_envelope(value):
            return SECRET
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def top_key(path: str) -> str:
    """'services["a"].image' / 'services.a.image' -> 'services'."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _inputs(state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return clean(dict(state.get("inputs") or {})) if state else None


def _outputs(state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return clean(dict(state.get("outputs") or {})) if state else None


def _diff_keys(raw: Mapping[str, Any]) -> tuple[str, ...]:
    keys = set(raw.get("diffs") or []) | set(raw.get("diffReasons") or []) | set(raw.get("replaceReasons") or [])
    keys |= {top_key(p) for p in (raw.get("detailedDiff") or {})}
    return tuple(sorted(keys))


def step_from_json(raw: Mapping[str, Any]) -> Step:
    """One step of `pulumi preview --json`."""
    return _step(raw, raw.get("oldState"), raw.get("newState"))


def step_from_event(metadata: Mapping[str, Any]) -> Step:
    """resourcePreEvent.metadata of an engine event."""
    return _step(metadata, metadata.get("old"), metadata.get("new"))


def _step(raw: Mapping[str, Any], old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> Step:
    urn = raw.get("urn", "")
    return Step(
        urn=urn,
        type=raw.get("type") or (new or old or {}).get("type") or urn_type(urn),
        op=raw.get("op", "same"),
        old_inputs=_inputs(old),
        old_outputs=_outputs(old),
        new_inputs=_inputs(new),
        parent=(new or old or {}).get("parent", ""),
        diff_keys=_diff_keys(raw),
    )


def merge_steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    """One step per URN (a replace comes as create-replacement + replace + delete-replaced), sorted by URN."""
    merged: dict[str, Step] = {}
    for step in steps:
        prev = merged.get(step.urn)
        merged[step.urn] = step if prev is None else _merge(prev, step)
    return tuple(merged[u] for u in sorted(merged))


def _merge(a: Step, b: Step) -> Step:
    op = "replace" if a.op in REPLACE_OPS or b.op in REPLACE_OPS else (b.op if a.op == "same" else a.op)
    return Step(
        urn=a.urn,
        type=a.type or b.type,
        op=op,
        old_inputs=a.old_inputs if a.old_inputs is not None else b.old_inputs,
        old_outputs=a.old_outputs if a.old_outputs is not None else b.old_outputs,
        new_inputs=a.new_inputs if a.new_inputs is not None else b.new_inputs,
        parent=a.parent or b.parent,
        diff_keys=tuple(sorted(set(a.diff_keys) | set(b.diff_keys))),
    )


def preview_from_events(events: Iterable[Mapping[str, Any]]) -> Preview:
    steps: list[Step] = []
    errors: list[str] = []
    for event in events:
        if "resourcePreEvent" in event:
            steps.append(step_from_event(event["resourcePreEvent"].get("metadata") or {}))
        elif "diagnosticEvent" in event and event["diagnosticEvent"].get("severity") == "error":
            errors.append(str(event["diagnosticEvent"].get("message", "")).strip())
        elif "summaryEvent" in event and event["summaryEvent"].get("result") == "failed" and not errors:
            errors.append("the preview failed")
    return Preview(merge_steps(steps), tuple(e for e in errors if e))


def preview_from_json(doc: Mapping[str, Any]) -> Preview:
    errors = [str(d.get("message", "")).strip() for d in doc.get("diagnostics") or [] if d.get("severity") == "error"]
    return Preview(merge_steps(step_from_json(s) for s in doc.get("steps") or []), tuple(e for e in errors if e))


def load_preview(text: str) -> Preview:
    """Parse `pulumi preview --json` output, a JSON list of engine events, or JSON-lines events."""
    text = text.strip()
    if not text:
        return Preview(())
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError:
        doc = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(doc, Mapping) and "steps" in doc:
        return preview_from_json(doc)
    return preview_from_events([doc] if isinstance(doc, Mapping) else doc)


def stack_of(preview: Preview) -> str:
    """The stack name the URNs carry ('' when there are none)."""
    return next((s for s in (urn_stack(step.urn) for step in preview.steps) if s), "")


def event_to_dict(event: Any) -> dict[str, Any]:
    """An Automation API EngineEvent -> the engine's JSON shape (only what the summary reads)."""
    if event.resource_pre_event is not None:
        md = event.resource_pre_event.metadata
        return {"resourcePreEvent": {"metadata": {
            "op": getattr(md.op, "value", md.op),
            "urn": md.urn,
            "type": md.type,
            "old": _state_dict(md.old),
            "new": _state_dict(md.new),
            "diffs": list(md.diffs or []),
            "detailedDiff": {k: {"kind": getattr(v.diff_kind, "value", v.diff_kind), "inputDiff": v.input_diff}
                             for k, v in (md.detailed_diff or {}).items()},
        }}}
    if event.diagnostic_event is not None:
        d = event.diagnostic_event
        return {"diagnosticEvent": {"severity": d.severity, "message": d.message, "urn": d.urn or ""}}
    if event.summary_event is not None:
        return {"summaryEvent": {"result": getattr(event.summary_event, "result", None) or "succeeded"}}
    return {}


def _state_dict(state: Any) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"type": state.type, "urn": state.urn, "parent": state.parent or "", "inputs": dict(state.inputs or {}),
            "outputs": dict(state.outputs or {})}
