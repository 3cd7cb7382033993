"""Analyse a parsed preview: what changes per Dokploy compose project and per service, what is tested and pushed, what else changes.

Values of env variables are never kept (only key names); secret inputs are only named; the compose
file diff has the values of secret keys redacted.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.domains import NOT_DECLARED
from core.wire import UNKNOWN
from deployctl.preview.markdown import code, codes
from deployctl.preview.parse import SECRET, Preview, Step, urn_name, urn_type

COMPOSE_TYPE = "pulumi-python:dynamic/dokploy:ComposeProject"
IMAGE_TYPE = "docker:index/registryImage:RegistryImage"
SERVICE_IMAGE_TYPE = "bizosaas:index:ServiceImage"
TEST_TYPE = "command:local:Command"  # the pre-push test gate (components/test_gate.py)
SERVICE_TEST_TYPE = "bizosaas:index:ServiceTest"
STACK_TYPE = "pulumi:pulumi:Stack"

SECRET_MARKERS = frozenset({SECRET, "<secret>"})  # "<secret>": the program's marker in services[*].env
CHANGE_OPS = frozenset({"create", "update", "replace", "delete", "import", "discard"})
# Top-level inputs whose values may be printed (everything else is only named).
PRINTABLE_SETTINGS = frozenset({
    "dokploy_url", "project_name", "environment_name", "compose_name", "compose_type", "server_name", "server_id", "deploy_timeout",
    "poll_interval", "health_timeout", "rollback_on_failure", "allow_insecure_http", "delete_volumes",
})
DERIVED_INPUTS = frozenset({"compose_file", "services", "health_urls", "routes"})  # follow from the service changes
HIDDEN_INPUTS = frozenset({"__provider"})
SECRET_INPUTS = frozenset({"env", "api_key"})  # secret in the program; treated so even if a preview shows them in plaintext
ENV_CHANGED = "environment (secret) changed"  # the dotenv text of a compose project: never more than this
_SECRETISH = re.compile(r"key|token|secret|password|passwd|credential", re.IGNORECASE)
_DIGEST = re.compile(r"^(?:(?P<repo>.+)@)?sha256:(?P<hex>[0-9a-f]{64})$")
_ENV_LINE = re.compile(r"^(?P<lead>[ +\-]?\s*-?\s*)(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)(?P<sep>\s*[:=]\s*)(?P<value>.*)$")
_REFERENCE = re.compile(r"^['\"]?\$\{[A-Za-z_][A-Za-z0-9_]*\}['\"]?$")


def is_unknown(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(is_unknown(v) for v in value)
    return bool(value == UNKNOWN)


def is_secret(value: Any) -> bool:
    return isinstance(value, str) and value in SECRET_MARKERS


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
class ImageTest:
    """One image's pre-push test that runs (or goes away) in this update."""

    service: str
    op: str
    why: str


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
    tests: tuple[ImageTest, ...] = ()
    untested: tuple[str, ...] = ()  # services whose image is pushed with no pre-push test (testGate: false)

    @property
    def changed(self) -> bool:
        return bool(self.projects or self.services or self.pushes or self.others or self.errors or self.tests)

    @property
    def tests_run(self) -> tuple[ImageTest, ...]:
        return tuple(t for t in self.tests if t.op != "delete")

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



def env_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Env keys added/removed/changed: names only, secret ones marked."""

    def label(key: str) -> str:
        return f"{key} (secret)" if is_secret(old.get(key)) or is_secret(new.get(key)) else key

    added = sorted(k for k in new if k not in old)
    removed = sorted(k for k in old if k not in new)
    changed = sorted(k for k in new if k in old and old[k] != new[k])
    out: list[str] = []
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


def _route_url(route: Mapping[str, Any]) -> str:
    path = str(route.get("path") or "/")
    return f"{'https' if route.get('https') else 'http'}://{route.get('host')}{'' if path == '/' else path}"


def route_lines(old: Any, new: Any) -> dict[str, list[str]]:
    """service -> what changes of its public route (a Dokploy domain): added, removed, moved, or its settings."""
    olds, news = _mapping(old), _mapping(new)
    out: dict[str, list[str]] = {}
    for key in sorted(set(olds) | set(news)):
        before, after = _mapping(olds.get(key)), _mapping(news.get(key))
        if key.startswith(NOT_DECLARED):  # a domain made in Dokploy's UI that no route declares (recorded by a refresh)
            if not after:
                out.setdefault(str(before.get("service") or "?"), []).append(
                    f"domain {code(_route_url(before))} made in Dokploy is removed (no route declares it)")
            continue
        if not before:
            out.setdefault(key, []).append(f"route added {code(_route_url(after))} ({after.get('certificate')})")
        elif not after:
            out.setdefault(key, []).append(f"route removed (was {code(_route_url(before))})")
        elif _route_url(before) != _route_url(after):
            out.setdefault(key, []).append(f"route {code(_route_url(before))} → {code(_route_url(after))}")
        else:
            changed = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
            if changed:
                out.setdefault(key, []).append(f"route {code(_route_url(after))}: " + ", ".join(
                    f"{k} {code(before.get(k))} → {code(after.get(k))}" for k in changed))
    return out


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
    out: list[str] = []
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
    changed: list[str] = []
    pending: list[str] = []
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
    if step.op != "delete":
        for name, lines in route_lines(old.get("routes"), new.get("routes")).items():
            found = next((i for i, c in enumerate(services) if c.service == name), None)
            if found is None:
                services.append(ServiceChange(name, step.name, tuple(lines), False, True))
            else:
                c = services[found]
                services[found] = ServiceChange(name, step.name, (*c.lines, *lines), c.image_changed, True)
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
    if step.op == "replace" and (move := placement_move(old, new)):
        verb = f"replace: {move}"
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


MODE_NAMES = {"docker-compose": "compose mode (docker compose)", "stack": "stack mode (docker stack deploy on Dokploy's Swarm)"}


def _placement(inputs: Mapping[str, Any]) -> str:
    mode = MODE_NAMES.get(str(inputs.get("compose_type") or "docker-compose"), str(inputs.get("compose_type")))
    server = inputs.get("server_name") or ""
    return f"{mode} on {'server ' + code(server) if server else 'Dokploy' + chr(39) + 's host'}"


def placement_move(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A compose project moved to another mode or server, said plainly ("" when it did not move)."""
    before, after = _placement(old), _placement(new)
    if before == after and (not new.get("server_id") or (old.get("server_id") or "") == new.get("server_id")):
        return ""
    if before == after:
        before += " (a server deleted and created again in Dokploy)"
    return (
        f"moves from {before} to {after}: the compose project is deleted in Dokploy (its containers or services stop) "
        "and created again there, then deployed and verified; it does not answer in between"
    )


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


def service_of_test(step: Step) -> str:
    """The service a test Command belongs to: its ServiceTest parent's name, else ``<service>-test``."""
    if step.parent and urn_type(step.parent) == SERVICE_TEST_TYPE:
        return urn_name(step.parent)
    return step.name.removesuffix("-test")


def _test_why(step: Step) -> str:
    if step.op == "create":
        return "first test of this image"
    if step.op == "replace":
        return "new local image: tested before it is pushed"
    if step.op == "delete":
        return "test removed: the image is no longer tested before a push"
    keys = [k for k in step.diff_keys if k not in HIDDEN_INPUTS and k != "triggers"]
    return "the test changed" + (f" ({codes(keys)})" if keys else "") + ": tested again"


def analyse_tests(steps: tuple[Step, ...], pushes: tuple[Push, ...]) -> tuple[tuple[ImageTest, ...], tuple[str, ...]]:
    """(the tests this update runs or removes, the pushed services that have no test at all)."""
    commands = [s for s in steps if s.type == TEST_TYPE]
    tests = tuple(sorted((ImageTest(service_of_test(s), s.op, _test_why(s)) for s in commands if s.op in CHANGE_OPS),
                         key=lambda t: t.service))
    gated = {service_of_test(s) for s in commands if s.op != "delete"}
    return tests, tuple(sorted({p.service for p in pushes} - gated))


def analyse(stack: str, preview: Preview) -> Analysis:
    by_urn = {s.urn: s for s in preview.steps}
    changing = [s for s in preview.steps if s.op in CHANGE_OPS and s.type != STACK_TYPE]
    pushes = tuple(sorted(
        (Push(service_of_image(s, by_urn), s.op, short_digest((s.old_outputs or {}).get("sha256Digest") or "") if s.old_outputs else "")
         for s in changing if s.type == IMAGE_TYPE and s.op in {"create", "replace"}),
        key=lambda p: p.service,
    ))
    pushed = {p.service for p in pushes}
    projects: list[ProjectChange] = []
    services: list[ServiceChange] = []
    pending: list[str] = []
    for step in (s for s in changing if s.type == COMPOSE_TYPE):
        project, svc, is_pending = analyse_project(step, pushed)
        projects.append(project)
        services += svc
        if is_pending:
            pending.append(step.name)
    ignored = {COMPOSE_TYPE, IMAGE_TYPE, SERVICE_IMAGE_TYPE, TEST_TYPE, SERVICE_TEST_TYPE}
    tests, untested = analyse_tests(preview.steps, pushes)
    tested = {t.service for t in tests}
    others = tuple(
        OtherChange(s.name, s.type, s.op, _other_keys(s))
        for s in changing
        if s.type not in ignored and not _is_push_tag(s, pushed | tested, by_urn) and not _is_default_provider(s)
    )
    return Analysis(
        stack=stack,
        projects=tuple(sorted(projects, key=lambda p: p.project)),
        services=tuple(sorted(services, key=lambda s: (s.project, s.service))),
        pushes=pushes,
        others=tuple(sorted(others, key=lambda o: (o.type, o.name))),
        errors=preview.errors,
        services_pending=tuple(sorted(pending)),
        tests=tests,
        untested=untested,
    )


def _is_push_tag(step: Step, services: set[str], by_urn: Mapping[str, Step]) -> bool:
    """The docker Tag that goes with a push or a test (re-tagging the tested image id is part of them, not a separate change)."""
    return step.type == "docker:index/tag:Tag" and service_of_image(step, by_urn) in services


def _is_default_provider(step: Step) -> bool:
    """A provider the engine makes by itself (``default_1_2_1``): plumbing, not a change a reviewer decides on."""
    return step.type.startswith("pulumi:providers:") and step.name.startswith("default")


def _other_keys(step: Step) -> tuple[str, ...]:
    if step.diff_keys:
        return tuple(k for k in step.diff_keys if k not in HIDDEN_INPUTS)
    old, new = step.old_inputs or {}, step.new_inputs or {}
    return tuple(sorted(k for k in set(old) | set(new) if k not in HIDDEN_INPUTS and old.get(k) != new.get(k)))
