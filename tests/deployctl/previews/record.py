"""Record the engine's preview output for the summary tests, with the REAL Pulumi engine.

    cd /work/main && venv/bin/python -m tests.deployctl.previews.record [SCENARIO ...]

For each scenario: a fresh file backend in a temp dir, ``pulumi up`` of the base fixture program
(tests/previews/fixture.py, inline through the Automation API), then ``pulumi preview`` of the
changed program. The raw engine events (what ``pulumi preview --event-log`` writes and the
Automation API's on_event receives) are saved to ``<scenario>.json``; scenarios marked ``json``
also save the stdout of ``pulumi preview --json`` to ``<scenario>.preview.json``. Left out: the
engine's debug diagnostics, its note that it uses the no-op plugin from $PATH and, in ``--json``, each
state's stack trace (paths of this machine).
Docker is not needed: Tag/RegistryImage are answered by the no-op plugin in tests/previews/bin; the
pre-push tests (``command:local:Command``) by the pulumi-command stand-in in testkit/bin, running ``:``.
Then run ``python -m tests.deployctl.previews.record --golden`` to rewrite the golden Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation import _stack

from tests.deployctl.previews import fixture as fx
from tests.deployctl.previews.fixture import Fixture

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PULUMI_BIN = REPO / ".tools" / "pulumi" / "bin"
PROJECT = "bizosaas-deploy"
PASSPHRASE = "fake-recording-passphrase"


@dataclass(frozen=True)
class Scenario:
    name: str
    base: Fixture
    changed: Fixture
    json: bool = False  # also record `pulumi preview --json`


def _staging(**kw: Any) -> Fixture:
    return Fixture("staging", fx.catalog("staging"), **kw)


def _scenarios() -> list[Scenario]:
    staging = _staging()
    prod = Fixture("prod", fx.catalog("prod", "WARNING"), rollback_on_failure=True)
    many = Fixture("staging", fx.many("staging"))
    many_changed = replace(many, services=tuple(
        replace(s, build="2", env=(*s.env, ("FEATURE_FLAGS", "beta"))) for s in many.services
    ))
    pushed = _staging(push=True)
    tested = _staging(push=True, gate=True)
    return [
        Scenario("image-changed", staging, replace(staging, services=fx.change(staging.services, "brain-api", build="2")), json=True),
        Scenario("env-key-added", staging, replace(staging, services=fx.with_env(
            staging.services, "auth-service", "SESSION_COOKIE_NAME", "bizosaas_sid"))),
        Scenario("port-changed", staging, replace(staging, services=fx.change(staging.services, "client-portal", published=3101))),
        Scenario("no-changes", staging, staging),
        Scenario("many-services", many, many_changed),
        Scenario("secret-changed", staging, replace(staging, secret_values=dict(fx.ROTATED_SECRETS), services=fx.change(
            staging.services, "auth-service", secrets=("DATABASE_URL", "JWT_SECRET", "STRIPE_API_KEY")))),
        Scenario("image-pushed", pushed, replace(pushed, services=fx.change(pushed.services, "ai-agents", build="2")), json=True),
        Scenario("image-tested", tested, replace(tested, services=fx.change(tested.services, "ai-agents", build="2")), json=True),
        Scenario("gate-turned-on", pushed, tested),
        Scenario("prod-promotion", prod, replace(prod, services=fx.change(
            fx.change(prod.services, "brain-api", build="2"), "client-portal", build="2"))),
        Scenario("prod-settings", prod, replace(prod, services=fx.catalog("prod", "ERROR"), health_timeout=300.0)),
    ]


SCENARIOS: dict[str, Scenario] = {s.name: s for s in _scenarios()}


def engine_env(root: Path) -> dict[str, str]:
    """A private file backend and PULUMI_HOME; the no-op docker plugin first on PATH, then the pulumi-command stand-in."""
    (root / "backend").mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.pathsep.join([str(HERE / "bin"), str(REPO / "testkit" / "bin"), str(PULUMI_BIN), os.environ.get("PATH", "")]),
        "PULUMI_HOME": str(root / "home"),
        "PULUMI_BACKEND_URL": (root / "backend").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_PYTHON_CMD": str(REPO / "venv" / "bin" / "python"),
        "PYTHONPATH": str(REPO),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }


@contextmanager
def raw_events() -> Iterator[list[dict[str, Any]]]:
    """Collect each engine event's JSON exactly as the engine sent it (before the SDK parses it)."""
    original = _stack.EngineEvent
    seen: list[dict[str, Any]] = []

    class Capturing(original):  # type: ignore[misc, valid-type]
        @classmethod
        def from_json(cls, data: dict[str, Any]) -> Any:
            seen.append(data)
            return original.from_json(data)

    _stack.EngineEvent = Capturing  # type: ignore[misc]
    try:
        yield seen
    finally:
        _stack.EngineEvent = original  # type: ignore[misc]


KEEP = ("preludeEvent", "resourcePreEvent", "diagnosticEvent", "summaryEvent", "policyEvent")


def _keep(event: dict[str, Any]) -> bool:
    """The events a summary reads; the engine's debug chatter is left out to keep the files small."""
    if "diagnosticEvent" in event:  # also left out: the engine's note that it uses the no-op plugin from $PATH
        diag = event["diagnosticEvent"]
        return diag.get("severity") != "debug" and "from $PATH" not in diag.get("message", "")
    return any(k in event for k in KEEP)


def fixture_stack(scenario: Scenario, root: Path, env: dict[str, str]) -> auto.Stack:
    """A stack on a file backend under root whose state is the base program (after `up`) and whose
    program is now the changed one: the next preview shows the scenario's change.
    The caller puts env into os.environ first (the Automation API reads it too)."""
    work = root / "project"
    work.mkdir(parents=True, exist_ok=True)
    (work / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime:\n  name: python\n")
    base: Callable[[], None] = lambda: fx.program(scenario.base)  # noqa: E731
    opts = auto.LocalWorkspaceOptions(work_dir=str(work), pulumi_home=env["PULUMI_HOME"], env_vars=env)
    st = auto.create_or_select_stack(scenario.base.stack, project_name=PROJECT, program=base, opts=opts)
    st.up(color="never")
    st.workspace.program = lambda: fx.program(scenario.changed)
    return st


def record(scenario: Scenario, out_dir: Path = HERE) -> list[Path]:
    """Up the base program, preview the changed one; write the recordings."""
    with tempfile.TemporaryDirectory(prefix=f"preview-{scenario.name}-") as tmp:
        root = Path(tmp)
        env = engine_env(root)
        os.environ.update(env)
        st = fixture_stack(scenario, root, env)
        with raw_events() as seen:
            st.preview(diff=True, color="never")
        events = [e for e in seen if _keep(e)]
        written = [_write(out_dir / f"{scenario.name}.json", _events_text(events))]
        if scenario.json:
            result = st.preview(json=True, color="never")
            doc = _without_machine_paths(json.loads(result.stdout))
            written.append(_write(out_dir / f"{scenario.name}.preview.json", json.dumps(doc, indent=1) + "\n"))
    return written


def _without_machine_paths(doc: dict[str, Any]) -> dict[str, Any]:
    """`--json` states carry the program's stack trace (paths of this machine); the note on the no-op plugin goes too."""
    if "diagnostics" in doc:
        doc["diagnostics"] = [d for d in doc["diagnostics"] if "from $PATH" not in d.get("message", "")]
    for step in doc.get("steps") or []:
        for state in (step.get("oldState"), step.get("newState")):
            if state:
                state.pop("stackTrace", None)
                state.pop("sourcePosition", None)
    return doc


def _events_text(events: list[dict[str, Any]]) -> str:
    return "[\n" + ",\n".join(json.dumps(e, sort_keys=True) for e in events) + "\n]\n"


def _write(path: Path, text: str) -> Path:
    leaked = [name for name, value in leaked_secrets(text)]
    if leaked:
        raise SystemExit(f"{path.name}: the engine output holds fixture secret values ({', '.join(leaked)}); not saved")
    path.write_text(text)
    return path


def fake_secret_values() -> dict[str, str]:
    """Every fake secret value the fixture uses (none may reach a recording or a summary)."""
    return {**{f"secret {k}": v for k, v in {**fx.FAKE_SECRETS, **fx.ROTATED_SECRETS}.items()}, "dokploy api key": fx.FAKE_API_KEY,
            "passphrase": PASSPHRASE}


def leaked_secrets(text: str) -> list[tuple[str, str]]:
    return sorted((name, value) for name, value in fake_secret_values().items() if value in text)


def write_golden(out_dir: Path = HERE) -> list[Path]:
    """Rewrite <scenario>.md (and <scenario>.preview.md) from the recordings with deployctl.preview."""
    from deployctl.preview import load_preview, stack_of, summarize

    written = []
    for path in sorted(out_dir.glob("*.json")):
        stack = stack_of(load_preview(path.read_text())) or "staging"
        golden = path.with_suffix(".md")
        golden.write_text(summarize(stack, load_preview(path.read_text())))
        written.append(golden)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", help=f"default: all ({', '.join(SCENARIOS)})")
    parser.add_argument("--golden", action="store_true", help="only rewrite the golden Markdown from the recordings")
    args = parser.parse_args(argv)
    if not args.golden:
        for name in args.scenarios or list(SCENARIOS):
            for path in record(SCENARIOS[name]):
                print(f"recorded {path.relative_to(REPO)}")
    for path in write_golden():
        print(f"golden   {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
