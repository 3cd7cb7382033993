"""A release-aware Markdown summary of a Pulumi preview, for a pull-request comment.

    python -m deployctl.preview.summary --stack staging --input preview.json --out summary.md
    python -m deployctl.preview.summary --stack staging --out summary.md      (runs the preview itself)

Input: the stdout of ``pulumi preview --json`` ({"steps": [...], "changeSummary": ...}) or engine
events (``pulumi preview --event-log FILE``: JSON lines; or a JSON list of them; the Automation
API's on_event objects are converted by ``event_to_dict``).

What a reviewer reads: per service the image digest (12 hex), env keys added/removed/changed,
ports and health URL; which Dokploy compose projects redeploy; how many images are pushed; whether
the change reaches production. Values of env variables are never printed (only key names); secret
inputs are only named. The compose file diff is collapsed in <details>, with values of secret keys
redacted. Output is deterministic (sorted, no timestamps) and fits a GitHub comment.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMPOSE_TYPE = "pulumi-python:dynamic/dokploy:ComposeProject"
IMAGE_TYPE = "docker:index/registryImage:RegistryImage"
SERVICE_IMAGE_TYPE = "bizosaas:index:ServiceImage"
STACK_TYPE = "pulumi:pulumi:Stack"
GITHUB_COMMENT_LIMIT = 65_536
DEFAULT_MAX_CHARS = 60_000  # leaves room for a marker and a footer the workflow adds

SECRET = "[secret]"  # how the engine masks a secret value in events and in --json
SECRET_MARKERS = frozenset({SECRET, "<secret>"})  # "<secret>": the program's marker in services[*].env
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's "known after apply" value
_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced", "discard-replaced", "import-replacement"})
CHANGE_OPS = frozenset({"create", "update", "replace", "delete", "import", "discard"})
# Top-level inputs whose values may be printed (everything else is only named).
PRINTABLE_SETTINGS = frozenset({
    "dokploy_url", "project_name", "environment_name", "compose_name", "compose_type", "deploy_timeout",
    "poll_interval", "health_timeout", "rollback_on_failure", "allow_insecure_http", "delete_volumes",
})
DERIVED_INPUTS = frozenset({"compose_file", "services", "health_urls"})  # follow from the service changes
HIDDEN_INPUTS = frozenset({"__provider"})
SECRET_INPUTS = frozenset({"env", "api_key"})  # secret in the program; treated so even if a preview shows them in plaintext
ENV_CHANGED = "environment (secret) changed"  # the dotenv text of a compose project: never more than this
_SECRETISH = re.compile(r"key|token|secret|password|passwd|credential", re.IGNORECASE)
_DIGEST = re.compile(r"^(?:(?P<repo>.+)@)?sha256:(?P<hex>[0-9a-f]{64})$")
_ENV_LINE = re.compile(r"^(?P<lead>[ +\-]?\s*-?\s*)(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)(?P<sep>\s*[:=]\s*)(?P<value>.*)$")
_REFERENCE = re.compile(r"^['\"]?\$\{[A-Za-z_][A-Za-z0-9_]*\}['\"]?$")


# --------------------------------------------------------------------------------------------
# parsing: preview --json steps and engine events -> Step
# --------------------------------------------------------------------------------------------


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
        if _SECRET_SIG_KEY in value:
            return SECRET
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def is_unknown(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(is_unknown(v) for v in value)
    return value == UNKNOWN


def is_secret(value: Any) -> bool:
    return isinstance(value, str) and value in SECRET_MARKERS


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
    old, new = raw.get("oldState"), raw.get("newState")
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


def step_from_event(metadata: Mapping[str, Any]) -> Step:
    """resourcePreEvent.metadata of an engine event."""
    old, new = metadata.get("old"), metadata.get("new")
    urn = metadata.get("urn", "")
    return Step(
        urn=urn,
        type=metadata.get("type") or urn_type(urn),
        op=metadata.get("op", "same"),
        old_inputs=_inputs(old),
        old_outputs=_outputs(old),
        new_inputs=_inputs(new),
        parent=(new or old or {}).get("parent", ""),
        diff_keys=_diff_keys(metadata),
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
    steps, errors = [], []
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


# --------------------------------------------------------------------------------------------
# analysis: what changes, per compose project and per service
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceChange:
    service: str
    project: str
    lines: tuple[str, ...]  # "image `a` -> `b`", "env added `X`", ...
    image_changed: bool  # the image digest changes (promotion-relevant)
    settings_changed: bool  # anything else (env, ports, health, added/removed)


@dataclass(frozen=True)
class ProjectChange:
    project: str
    op: str
    verb: str  # what happens in Dokploy
    details: tuple[str, ...]
    redeploys: bool
    settings_changed: bool
    compose_diff: str = ""
    compose_note: str = ""


@dataclass(frozen=True)
class Push:
    service: str
    op: str
    old_digest: str


@dataclass(frozen=True)
class OtherChange:
    name: str
    type: str
    op: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Analysis:
    stack: str
    projects: tuple[ProjectChange, ...]
    services: tuple[ServiceChange, ...]
    pushes: tuple[Push, ...]
    others: tuple[OtherChange, ...]
    errors: tuple[str, ...] = ()
    services_pending: tuple[str, ...] = ()  # projects whose per-service inputs are known only after the pushes

    @property
    def changed(self) -> bool:
        return bool(self.projects or self.services or self.pushes or self.others or self.errors)

    @property
    def image_services(self) -> tuple[str, ...]:
        names = {s.service for s in self.services if s.image_changed} | {p.service for p in self.pushes}
        return tuple(sorted(names))

    @property
    def settings_changed(self) -> bool:
        return any(s.settings_changed for s in self.services) or any(p.settings_changed for p in self.projects) or bool(self.others)


def short_digest(image: Any) -> str:
    """'[<repo>@]sha256:<64 hex>' -> the first 12 hex; an unknown one -> 'known after push'; anything else as is."""
    if is_unknown(image):
        return "known after push"
    m = _DIGEST.match(image) if isinstance(image, str) else None
    return m.group("hex")[:12] if m else str(image)


def image_repo(image: Any) -> str:
    m = _DIGEST.match(image) if isinstance(image, str) else None
    return (m.group("repo") or "") if m else ""


def code(text: Any) -> str:
    """Inline code that survives any backticks in the text."""
    s = str(text).replace("\n", " ")
    fence = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def codes(items: Iterable[str]) -> str:
    return ", ".join(code(i) for i in items)


def env_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Env keys added/removed/changed: names only, secret ones marked."""

    def label(key: str) -> str:
        return f"{key} (secret)" if is_secret(old.get(key)) or is_secret(new.get(key)) else key

    added = sorted(k for k in new if k not in old)
    removed = sorted(k for k in old if k not in new)
    changed = sorted(k for k in new if k in old and old[k] != new[k])
    out = []
    for verb, keys in (("added", added), ("removed", removed), ("changed", changed)):
        if keys:
            out.append(f"env {verb} {codes(label(k) for k in keys)}")
    return out


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else ([] if value is None else [str(value)])


def service_lines(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> tuple[list[str], bool, bool]:
    """(lines, image changed, settings changed) for one service's summary entry."""
    if new is None:
        return [f"removed (was image {code(short_digest((old or {}).get('image')))})"], False, True
    if is_unknown(new) and not isinstance(new, Mapping):
        return ["changes known after the push"], False, False
    if old is None:
        ports = codes(_as_list(new.get("ports")))
        return [f"new service: image {code(short_digest(new.get('image')))}" + (f", ports {ports}" if ports else "")], True, True
    lines: list[str] = []
    image_changed = old.get("image") != new.get("image")
    if image_changed:
        lines.append(_image_line(old.get("image"), new.get("image")))
    env_lines = env_changes(_mapping(old.get("env")), _mapping(new.get("env")))
    lines += env_lines
    settings = bool(env_lines)
    if _as_list(old.get("ports")) != _as_list(new.get("ports")):
        lines.append(f"ports {codes(_as_list(old.get('ports'))) or '(none)'} → {codes(_as_list(new.get('ports'))) or '(none)'}")
        settings = True
    if old.get("health") != new.get("health"):
        lines.append(f"health {code(safe_url(old.get('health')) or '(none)')} → {code(safe_url(new.get('health')) or '(none)')}")
        settings = True
    others = sorted(k for k in set(old) | set(new) if k not in {"image", "env", "ports", "health"} and old.get(k) != new.get(k))
    if others:
        lines.append(f"changed {codes(others)}")
        settings = True
    return lines, image_changed, settings


def safe_url(url: Any) -> str:
    """A URL without user info or query values (either could hold a credential)."""
    text = "" if url is None else str(url)
    text = re.sub(r"(?<=://)[^/@\s]+@", "<redacted>@", text)
    return re.sub(r"=[^&#\s]*", "=<redacted>", text) if "?" in text else text


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _image_line(old: Any, new: Any) -> str:
    line = f"image {code(short_digest(old))} → {code(short_digest(new))}"
    if image_repo(old) and image_repo(new) and image_repo(old) != image_repo(new):
        line += f" (repository {code(image_repo(old))} → {code(image_repo(new))})"
    return line


def secret_env_keys(*service_maps: Any) -> set[str]:
    """Env keys any services map marks as secret (their values are redacted from compose diffs)."""
    keys: set[str] = set()
    for services in service_maps:
        for entry in _mapping(services).values():
            keys |= {k for k, v in _mapping(_mapping(entry).get("env")).items() if is_secret(v)}
    return keys


def redact_compose(text: str, secret_keys: set[str]) -> str:
    """Replace the value of every `KEY: value` / `KEY=value` whose KEY is secret, unless it is a ${REF}."""
    out = []
    for line in text.splitlines():
        m = _ENV_LINE.match(line)
        if m and m.group("key") in secret_keys and m.group("value").strip() and not _REFERENCE.match(m.group("value").strip()):
            line = f"{m.group('lead')}{m.group('key')}{m.group('sep')}<redacted>"
        out.append(line)
    return "\n".join(out)


def compose_diff(project: str, old: Any, new: Any, secret_keys: set[str]) -> tuple[str, str]:
    """(unified diff, note) of a compose file; a note instead of a diff when it cannot be shown."""
    if old == new:
        return "", ""
    if is_secret(old) or is_secret(new):
        return "", "compose file (secret) changed"
    if is_unknown(new):
        return "", "compose file is rendered from the new image digests (known after push)"
    old_lines = redact_compose(old if isinstance(old, str) else "", secret_keys).splitlines()
    new_lines = redact_compose(new if isinstance(new, str) else "", secret_keys).splitlines()
    diff = difflib.unified_diff(old_lines, new_lines, f"{project}/compose (deployed)", f"{project}/compose (planned)", n=2, lineterm="")
    return "\n".join(diff), ""


def _visible_changes(step: Step) -> tuple[list[str], list[str]]:
    """(keys whose value visibly changes, keys whose new value is unknown) of a ComposeProject update."""
    old, new = step.old_inputs or {}, step.new_inputs or {}
    changed, pending = [], []
    for key in sorted((set(old) | set(new) | set(step.diff_keys)) - HIDDEN_INPUTS):
        if is_unknown(new.get(key)):
            pending.append(key)
        elif old.get(key) != new.get(key) or key in step.diff_keys:  # a secret's change is only in diff_keys
            changed.append(key)
    return changed, pending


def _setting_line(key: str, old: Any, new: Any) -> str:
    if key == "env":
        return ENV_CHANGED
    if is_secret(old) or is_secret(new) or key in SECRET_INPUTS or _SECRETISH.search(key):
        return f"{key} (secret) changed"
    if key in PRINTABLE_SETTINGS and not isinstance(new, Mapping | list) and not isinstance(old, Mapping | list):
        return f"{code(key)} {code(old)} → {code(new)}"
    return f"{code(key)} changed"


def analyse_project(step: Step, pushed: set[str]) -> tuple[ProjectChange, list[ServiceChange], bool]:
    """One ComposeProject step -> its project change, its service changes, and whether services are pending."""
    old, new = step.old_inputs or {}, step.new_inputs or {}
    old_services, new_services = _mapping(old.get("services")), new.get("services")
    services: list[ServiceChange] = []
    pending_services = is_unknown(new_services) and not isinstance(new_services, Mapping)
    if isinstance(new_services, Mapping) and step.op != "delete":
        for name in sorted(set(old_services) | set(new_services)):
            lines, image, settings = service_lines(old_services.get(name), new_services.get(name))
            if lines:
                services.append(ServiceChange(name, step.name, tuple(lines), image, settings))
    keys, unknown = _visible_changes(step)
    secret_keys = secret_env_keys(old_services, new_services)
    diff, note = compose_diff(step.name, old.get("compose_file"), new.get("compose_file"), secret_keys)
    details = [_setting_line(k, old.get(k), new.get(k)) for k in keys if k not in DERIVED_INPUTS]
    env_key_change = bool(secret_env_keys(old_services) ^ secret_env_keys(new_services)) if isinstance(new_services, Mapping) else False
    if env_key_change and ENV_CHANGED not in details:
        details.append(ENV_CHANGED)
    settings = bool(details)
    if "health_urls" in keys and not any(line.startswith("health ") for s in services for line in s.lines):
        details.append(f"{code('health_urls')} changed")
        settings = True
    mine = sorted(n for n in old_services if n in pushed)
    verb, redeploys = _project_verb(step, keys, unknown, mine)
    if step.op == "update" and not keys and not unknown:
        details.append("a secret input changed (env, api_key or the provider; values are hidden)")
        settings = True
    if not redeploys and step.op == "update":
        return ProjectChange(step.name, step.op, verb, tuple(details), False, settings), services, False
    if unknown and pending_services:
        old_images = {n: _mapping(old_services[n]).get("image") for n in mine}
        services += [ServiceChange(n, step.name, (f"image {code(short_digest(old_images[n]))} → new push (digest known after push)",),
                                   True, False) for n in mine]
        details.append("other per-service changes (env, ports, health) are known after the push")
    return ProjectChange(step.name, step.op, verb, tuple(details), redeploys, settings, diff, note), services, pending_services


def _project_verb(step: Step, keys: list[str], unknown: list[str], pushed_here: list[str]) -> tuple[str, bool]:
    if step.op == "create":
        return "create (first deploy)", True
    if step.op == "delete":
        return "delete (the compose project is removed from Dokploy)", False
    if step.op == "replace":
        return "replace (deleted and re-created, then deployed)", True
    if keys:
        return "update (redeploys)", True
    if unknown and pushed_here:
        return f"update (redeploys with the new push of {codes(pushed_here)})", True
    if unknown:
        return "recomputed after the pushes (no redeploy expected: none of its images is pushed)", False
    return "update (redeploys)", True


def service_of_image(step: Step, by_urn: Mapping[str, Step]) -> str:
    parent = by_urn.get(step.parent)
    if parent is not None and parent.type == SERVICE_IMAGE_TYPE:
        return parent.name
    if step.parent and urn_type(step.parent) == SERVICE_IMAGE_TYPE:
        return urn_name(step.parent)
    return step.name.removesuffix("-image")


def analyse(stack: str, preview: Preview) -> Analysis:
    by_urn = {s.urn: s for s in preview.steps}
    changing = [s for s in preview.steps if s.op in CHANGE_OPS and s.type != STACK_TYPE]
    pushes = tuple(sorted(
        (Push(service_of_image(s, by_urn), s.op, short_digest((s.old_outputs or {}).get("sha256Digest") or "") if s.old_outputs else "")
         for s in changing if s.type == IMAGE_TYPE and s.op in {"create", "replace"}),
        key=lambda p: p.service,
    ))
    pushed = {p.service for p in pushes}
    projects, services, pending = [], [], []
    for step in (s for s in changing if s.type == COMPOSE_TYPE):
        project, svc, is_pending = analyse_project(step, pushed)
        projects.append(project)
        services += svc
        if is_pending:
            pending.append(step.name)
    ignored = {COMPOSE_TYPE, IMAGE_TYPE, SERVICE_IMAGE_TYPE}
    others = tuple(
        OtherChange(s.name, s.type, s.op, _other_keys(s)) for s in changing if s.type not in ignored and not _is_push_tag(s, pushed, by_urn)
    )
    return Analysis(
        stack=stack,
        projects=tuple(sorted(projects, key=lambda p: p.project)),
        services=tuple(sorted(services, key=lambda s: (s.project, s.service))),
        pushes=pushes,
        others=tuple(sorted(others, key=lambda o: (o.type, o.name))),
        errors=preview.errors,
        services_pending=tuple(sorted(pending)),
    )


def _is_push_tag(step: Step, pushed: set[str], by_urn: Mapping[str, Step]) -> bool:
    """The docker Tag that goes with a push (re-tagging is part of pushing, not a separate change)."""
    return step.type == "docker:index/tag:Tag" and service_of_image(step, by_urn) in pushed


def _other_keys(step: Step) -> tuple[str, ...]:
    if step.diff_keys:
        return tuple(k for k in step.diff_keys if k not in HIDDEN_INPUTS)
    old, new = step.old_inputs or {}, step.new_inputs or {}
    return tuple(sorted(k for k in set(old) | set(new) if k not in HIDDEN_INPUTS and old.get(k) != new.get(k)))


# --------------------------------------------------------------------------------------------
# rendering: Markdown within a character budget
# --------------------------------------------------------------------------------------------


def is_prod(stack: str) -> bool:
    name = stack.rsplit("/", 1)[-1].lower()
    return name in {"prod", "production"} or name.endswith(("-prod", "-production"))


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def prod_note(a: Analysis) -> str:
    images = len(a.image_services)
    if is_prod(a.stack):
        parts = []
        if images:
            parts.append(f"promotes {plural(images, 'image digest')} verified on staging")
        if a.settings_changed:
            parts.append("prod-only settings change (not promoted from staging)")
        return "**Production deploy**: " + (" and ".join(parts) or "changes production") + "."
    if images:
        return f"Will reach prod on promotion ({plural(images, 'image digest')})."
    return "Nothing to promote: no image digest changes (prod's own preview shows shared settings changes)."


def verdict(a: Analysis) -> str:
    if not a.changed:
        return f"**{a.stack}**: no changes."
    if a.errors:
        return f"**{a.stack}**: preview FAILED ({plural(len(a.errors), 'error')}); nothing will be deployed from this plan."
    redeploy = [p.project for p in a.projects if p.redeploys]
    removed = [p.project for p in a.projects if p.op == "delete"]
    svc = sorted({s.service for s in a.services} | {p.service for p in a.pushes})
    parts = [plural(len(svc), "service") + " changed"]
    parts.append(f"redeploys {codes(redeploy)}" if redeploy else "no compose project redeploys")
    if removed:
        parts.append(f"removes {codes(removed)}")
    parts.append(plural(len(a.pushes), "image push", "image pushes"))
    if a.others:
        parts.append(plural(len(a.others), "other resource") + " changed")
    return f"**{a.stack}**: " + ", ".join(parts) + ". " + prod_note(a)


@dataclass
class Budget:
    """Characters left for the comment; sections take what fits and say what they left out."""

    left: int
    parts: list[str] = field(default_factory=list)

    def take(self, text: str) -> bool:
        if len(text) + 1 > self.left:
            return False
        self.parts.append(text)
        self.left -= len(text) + 1
        return True

    def text(self) -> str:
        return "\n".join(self.parts) + "\n"


NOTE_RESERVE = 120  # room kept for a "… N more" note


def take_list(budget: Budget, title: str, items: Sequence[str], noun: str, reserve: int = 0) -> None:
    """A titled list; items that do not fit become "… N more <noun>"."""
    if not items:
        return
    if not budget.take(title):
        return
    for i, item in enumerate(items):
        if len(item) + 1 > budget.left - NOTE_RESERVE - reserve:
            budget.take(f"- … {len(items) - i} more {noun} (the full preview is in the workflow log)")
            break
        budget.take(item)
    budget.take("")


def fenced(body: str, lang: str = "") -> tuple[str, str]:
    fence = "`" * max(3, max((len(r) for r in re.findall(r"`{3,}", body)), default=0) + 1)
    return f"{fence}{lang}", fence


def take_details(budget: Budget, summary: str, body: str, lang: str = "diff", share: int = 1) -> None:
    """A collapsed <details> block using at most 1/share of the budget left; long bodies are cut by lines with a note."""
    opening, closing = fenced(body, lang)
    head = f"<details><summary>{summary}</summary>\n\n{opening}"
    tail = f"{closing}\n\n</details>\n"
    lines = body.splitlines()
    room = budget.left // max(share, 1) - len(head) - len(tail) - 2 - NOTE_RESERVE
    if room < 200:
        budget.take(f"_{summary}: left out (comment size limit)._\n")
        return
    kept, used = [], 0
    for line in lines:
        if used + len(line) + 1 > room:
            break
        kept.append(line)
        used += len(line) + 1
    if len(kept) < len(lines):
        kept.append(f"… {len(lines) - len(kept)} more diff lines (the full preview is in the workflow log)")
    budget.take("\n".join([head, *kept, tail]))


def project_items(a: Analysis) -> list[str]:
    return [f"- {code(p.project)}: {p.verb}" + (f"; {'; '.join(p.details)}" if p.details else "") for p in a.projects]


def service_items(a: Analysis) -> list[str]:
    return [f"- {code(s.service)} ({code(s.project)}): " + "; ".join(s.lines) for s in a.services]


def push_items(a: Analysis) -> list[str]:
    return [
        f"- {code(p.service)}: {p.op}" + (f", {code(p.old_digest)} → new digest (known after push)" if p.old_digest else ", first push")
        for p in a.pushes
    ]


def other_items(a: Analysis) -> list[str]:
    return [f"- {code(o.name)} ({code(o.type)}): {o.op}" + (f" ({codes(o.keys)})" if o.keys else "") for o in a.others]


def error_block(errors: Sequence[str], limit: int) -> str:
    body = "\n\n".join(e[:2000] for e in errors)
    if len(body) > limit:
        body = body[:limit] + "\n… (cut: the full error is in the workflow log)"
    opening, closing = fenced(body)
    return f"{opening}\n{body}\n{closing}"


def render(a: Analysis, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The Markdown comment body (header and verdict always; the rest as the budget allows)."""
    if not a.changed:
        return verdict(a) + "\n"
    budget = Budget(max_chars)
    budget.take(f"### Pulumi preview: {code(a.stack)}")
    budget.take(verdict(a))
    budget.take("")
    if a.errors:
        budget.take(error_block(a.errors, min(8000, budget.left // 2)))
    take_list(budget, "**Compose projects**", project_items(a), "compose projects")
    take_list(budget, f"**Image pushes ({len(a.pushes)})**", push_items(a), "pushes")
    services = service_items(a)
    if a.services_pending and not services:
        services = [f"- {codes(a.services_pending)}: per-service changes are known after the push"]
    take_list(budget, "**Services**", services, "services")
    take_list(budget, "**Other resources**", other_items(a), "resources")
    for p in (p for p in a.projects if p.compose_note and not p.compose_diff):
        budget.take(f"_{code(p.project)}: {p.compose_note}._\n")
    diffs = [p for p in a.projects if p.compose_diff]
    for i, p in enumerate(diffs):  # each diff gets an equal share of what is left
        take_details(budget, f"<code>{p.project}</code> compose file diff", p.compose_diff, share=len(diffs) - i)
    return budget.text().rstrip("\n") + "\n"


def summarize(stack: str, preview: Preview, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    return render(analyse(stack, preview), max_chars)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def run_preview(stack: str, on_event: Callable[[dict[str, Any]], None]) -> bool:
    """Preview `stack` through deployctl.engine (Automation API); events go to on_event. True on success."""
    from pulumi import automation as auto

    from deployctl import engine

    st = engine.stack(stack)
    try:
        st.preview(diff=True, color="never", on_event=lambda e: on_event(event_to_dict(e)))
    except auto.CommandError as exc:
        sys.stderr.write(f"preview of {stack} failed: {str(exc)[-4000:]}\n")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployctl.preview.summary", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--input", help="preview --json output or engine events (JSON list or JSON lines); '-' for stdin")
    parser.add_argument("--out", help="write the Markdown here (default: stdout)")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help=f"size budget (default {DEFAULT_MAX_CHARS})")
    parser.add_argument("--preview-exit-code", type=int, default=0,
                        help="exit status of the `pulumi preview` that wrote --input; non-zero marks the summary as failed")
    args = parser.parse_args(argv)
    if args.max_chars > GITHUB_COMMENT_LIMIT:
        parser.error(f"--max-chars must stay under GitHub's comment limit ({GITHUB_COMMENT_LIMIT})")

    ok = True
    if args.input:
        text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text()
        preview = load_preview(text)
    else:
        events: list[dict[str, Any]] = []
        ok = run_preview(args.stack, events.append)
        preview = preview_from_events(events)
        if not ok and not preview.errors:
            preview = Preview(preview.steps, ("the preview failed (see the log)",))
    if args.preview_exit_code and not preview.errors:
        preview = Preview(preview.steps, (f"pulumi preview exited with status {args.preview_exit_code} (see the workflow log)",))
    markdown = summarize(args.stack, preview, args.max_chars)
    if args.out:
        Path(args.out).write_text(markdown)
    else:
        sys.stdout.write(markdown)
    return 0 if ok and not preview.errors else 1


if __name__ == "__main__":
    sys.exit(main())
