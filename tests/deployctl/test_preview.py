"""deployctl.preview.summary against previews recorded from the real engine (tests/previews/record.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pulumi.automation.events import EngineEvent

from deployctl.preview import summary as ps
from tests.deployctl.previews.record import SCENARIOS, fake_secret_values, leaked_secrets

PREVIEWS = Path(__file__).resolve().parent / "previews"
RECORDINGS = sorted(PREVIEWS.glob("*.json"))
EVENT_RECORDINGS = [p for p in RECORDINGS if not p.name.endswith(".preview.json")]


def load(name: str) -> ps.Preview:
    return ps.load_preview((PREVIEWS / name).read_text())


def raw_events(name: str) -> list[dict[str, Any]]:
    return json.loads((PREVIEWS / name).read_text())


def summary(name: str, **kw: Any) -> str:
    preview = load(name)
    return ps.summarize(ps.stack_of(preview), preview, **kw)


def pre_event(events: list[dict[str, Any]], urn_suffix: str, op: str | None = None) -> dict[str, Any]:
    for event in events:
        md = event.get("resourcePreEvent", {}).get("metadata", {})
        if md.get("urn", "").endswith(urn_suffix) and (op is None or md.get("op") == op):
            return md
    raise AssertionError(f"no resourcePreEvent for {urn_suffix}")


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
    assert ps.COMPOSE_TYPE in types
    compose = pre_event(events, "::backend")
    assert {"services", "compose_file", "env", "project_name", "compose_name"} <= set(compose["old"]["inputs"])
    assert compose["old"]["inputs"]["env"]["ciphertext"] == "[secret]"  # the engine masks the secret dotenv text


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_no_fixture_secret_reaches_a_recording_or_a_summary(path: Path) -> None:
    assert leaked_secrets(path.read_text()) == []
    assert leaked_secrets(path.with_suffix(".md").read_text()) == []
    assert leaked_secrets(summary(path.name)) == []
    assert leaked_secrets(summary(path.name, max_chars=5000)) == []


# --- golden summaries ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_summary_matches_golden(path: Path) -> None:
    assert summary(path.name) == path.with_suffix(".md").read_text()


def test_no_changes_is_exactly_one_line() -> None:
    assert summary("no-changes.json") == "**staging**: no changes.\n"


def test_one_image_changed() -> None:
    text = summary("image-changed.json")
    lines = text.splitlines()
    assert lines[0] == "### Pulumi preview: `staging`"
    assert lines[1].startswith("**staging**: 1 service changed, redeploys `backend`, 0 image pushes.")
    assert "Will reach prod on promotion (1 image digest)." in lines[1]
    assert "- `brain-api` (`backend`): image `33fa38405058` → `c53789102d07`" in lines
    assert "frontend" not in text  # untouched project is not mentioned
    assert "<details><summary><code>backend</code> compose file diff</summary>" in text
    assert "+    image: ghcr.io/example-org/bizosaas-fixture/brain-api@sha256:c53789102d07" in text


def test_env_key_added_names_the_key_only() -> None:
    text = summary("env-key-added.json")
    assert "- `auth-service` (`backend`): env added `SESSION_COOKIE_NAME`" in text
    assert "Nothing to promote: no image digest changes" in text
    assert "bizosaas_sid" not in text.split("<details>")[0]  # the value only shows in the collapsed compose diff


def test_port_change_shows_ports_and_health() -> None:
    text = summary("port-changed.json")
    assert "ports `3001:3000` → `3101:3000`" in text
    assert "health `https://dokploy.example.invalid:3001/api/health` → `https://dokploy.example.invalid:3101/api/health`" in text
    assert "redeploys `frontend`" in text and "`backend`" not in text


def test_secret_change_is_named_never_shown() -> None:
    text = summary("secret-changed.json")
    assert "env added `STRIPE_API_KEY (secret)`" in text
    assert "- `backend`: update (redeploys); environment (secret) changed" in text


def test_push_counts_and_which_projects_redeploy() -> None:
    text = summary("image-pushed.json")
    assert "redeploys `backend`, 1 image push." in text
    assert "- `ai-agents`: replace, `58e9e21fb9fa` → new digest (known after push)" in text
    assert "- `frontend`: recomputed after the pushes (no redeploy expected" in text
    assert "Will reach prod on promotion (1 image digest)." in text
    assert "`ai-agents-tag`" not in text  # re-tagging is part of the push


def test_prod_promotion_and_prod_only_settings() -> None:
    promotion = summary("prod-promotion.json").splitlines()[1]
    assert promotion.startswith("**prod**: 2 services changed, redeploys `backend`, `frontend`")
    assert "**Production deploy**: promotes 2 image digests verified on staging." in promotion
    settings = summary("prod-settings.json")
    assert "**Production deploy**: prod-only settings change (not promoted from staging)." in settings
    assert "- `backend`: update (redeploys); `health_timeout` `180` → `300`" in settings
    assert "env changed `LOG_LEVEL`" in settings
    assert "WARNING" not in settings.split("<details>")[0]  # env values stay out of the visible part


# --- both input shapes, both ways of receiving events -------------------------------------------


@pytest.mark.parametrize("scenario", ["image-changed", "image-pushed"])
def test_preview_json_shape_gives_the_same_summary_as_events(scenario: str) -> None:
    doc = json.loads((PREVIEWS / f"{scenario}.preview.json").read_text())
    assert "steps" in doc and "changeSummary" in doc  # really `pulumi preview --json` output
    assert summary(f"{scenario}.preview.json") == summary(f"{scenario}.json")


def test_automation_api_event_objects_give_the_same_summary() -> None:
    for path in EVENT_RECORDINGS:
        converted = [ps.event_to_dict(EngineEvent.from_json(e)) for e in json.loads(path.read_text())]
        preview = ps.preview_from_events(converted)
        assert ps.summarize(ps.stack_of(preview), preview) == path.with_suffix(".md").read_text(), path.name


def test_json_lines_event_log_is_accepted() -> None:
    lines = "\n".join(json.dumps(e) for e in raw_events("image-changed.json")) + "\n"
    preview = ps.load_preview(lines)
    assert ps.summarize("staging", preview) == summary("image-changed.json")


def test_cli_writes_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "summary.md"
    assert ps.main(["--stack", "staging", "--input", str(PREVIEWS / "image-changed.json"), "--out", str(out)]) == 0
    assert out.read_text() == (PREVIEWS / "image-changed.md").read_text()
    assert ps.main(["--stack", "staging", "--input", str(PREVIEWS / "no-changes.json"), "--out", str(out)]) == 0
    assert out.read_text() == "**staging**: no changes.\n"


def test_a_failed_preview_says_so_and_exits_non_zero(tmp_path: Path) -> None:
    events = raw_events("image-changed.json")
    events.append({"diagnosticEvent": {"severity": "error", "message": "bizosaas:dokployApiKey: is required\n"}, "sequence": 99})
    path = tmp_path / "failed.json"
    path.write_text(json.dumps(events))
    out = tmp_path / "summary.md"
    assert ps.main(["--stack", "staging", "--input", str(path), "--out", str(out)]) == 1
    text = out.read_text()
    assert text.splitlines()[1] == "**staging**: preview FAILED (1 error); nothing will be deployed from this plan."
    assert "bizosaas:dokployApiKey: is required" in text


# --- determinism and size --------------------------------------------------------------------------


@pytest.mark.parametrize("path", EVENT_RECORDINGS, ids=lambda p: p.stem)
def test_deterministic_whatever_the_event_order(path: Path) -> None:
    events = json.loads(path.read_text())
    forward = ps.summarize("staging", ps.preview_from_events(events))
    backward = ps.summarize("staging", ps.preview_from_events(list(reversed(events))))
    assert forward == backward == ps.summarize("staging", ps.preview_from_events(events))


def test_140_services_stay_under_the_comment_limit() -> None:
    text = summary("many-services.json")
    assert len(text) < ps.GITHUB_COMMENT_LIMIT
    assert len(text) <= ps.DEFAULT_MAX_CHARS
    assert text.splitlines()[1].startswith("**staging**: 140 services changed, redeploys `backend`, `frontend`")
    assert "more diff lines (the full preview is in the workflow log)" in text
    assert text.count("<details>") == 2 and text.count("</details>") == 2  # both diffs kept, each cut


def test_a_small_budget_truncates_services_but_keeps_header_and_verdict() -> None:
    full = summary("many-services.json")
    text = summary("many-services.json", max_chars=6000)
    assert len(text) <= 6000
    assert text.splitlines()[:2] == full.splitlines()[:2]
    more = [line for line in text.splitlines() if "more services" in line]
    assert len(more) == 1 and more[0].startswith("- … ")
    shown = sum(1 for line in text.splitlines() if line.startswith("- `svc-"))
    assert shown + int(more[0].split()[2]) == 140
    tiny = summary("many-services.json", max_chars=400)
    assert tiny.splitlines()[:2] == full.splitlines()[:2]


# --- secrets: even when the input carries plaintext (e.g. `preview --json --show-secrets`) -----


def test_plaintext_secret_inputs_never_reach_the_summary() -> None:
    events = copy.deepcopy(raw_events("image-changed.json"))
    md = pre_event(events, "::backend", "update")
    values = fake_secret_values()
    old, new = md["old"]["inputs"], md["new"]["inputs"]
    old["env"] = f"DATABASE_URL='{values['secret DATABASE_URL']}'\n"
    new["env"] = f"DATABASE_URL='{values['secret DATABASE_URL']}'\nJWT_SECRET='{values['secret JWT_SECRET']}'\n"
    new["api_key"] = values["dokploy api key"]
    new["services"]["auth-service"]["env"]["JWT_SECRET"] = values["secret JWT_SECRET"]
    new["compose_file"] = new["compose_file"].replace("JWT_SECRET: ${JWT_SECRET}", f"JWT_SECRET: {values['secret JWT_SECRET']}")
    text = ps.summarize("staging", ps.preview_from_events(events))
    assert leaked_secrets(text) == []
    assert "+      JWT_SECRET: <redacted>" in text
    assert "env changed `JWT_SECRET (secret)`" in text  # "<secret>" -> plaintext: named, not shown
    assert "- `backend`: update (redeploys); api_key (secret) changed; environment (secret) changed" in text


def test_redact_compose_keeps_references_and_hides_values() -> None:
    text = "    environment:\n      DATABASE_URL: ${DATABASE_URL}\n      JWT_SECRET: 'abc123'\n      - OPENAI_API_KEY=sk-1\n      LOG: x\n"
    out = ps.redact_compose(text, {"DATABASE_URL", "JWT_SECRET", "OPENAI_API_KEY"})
    assert out.splitlines() == [
        "    environment:",
        "      DATABASE_URL: ${DATABASE_URL}",
        "      JWT_SECRET: <redacted>",
        "      - OPENAI_API_KEY=<redacted>",
        "      LOG: x",
    ]


def test_helpers() -> None:
    assert ps.short_digest("ghcr.io/o/r@sha256:" + "ab" * 32) == "ababababab" + "ab"
    assert ps.short_digest(ps.UNKNOWN) == "known after push"
    assert ps.code("a`b") == "``a`b``"
    assert ps.top_key('services["brain-api"].image') == "services" and ps.top_key("env") == "env"
    assert ps.is_prod("prod") and ps.is_prod("org/bizosaas-deploy/prod") and not ps.is_prod("staging")
    assert ps.safe_url("https://u:p@h:1/health?token=abc&x=1") == "https://<redacted>@h:1/health?token=<redacted>&x=<redacted>"
    assert ps.safe_url("https://h:8001/health") == "https://h:8001/health"
    assert ps.urn_stack("urn:pulumi:staging::bizosaas-deploy::pulumi:pulumi:Stack::x") == "staging"


def test_a_non_zero_preview_exit_code_marks_the_summary_failed(tmp_path: Path) -> None:
    out = tmp_path / "summary.md"
    code = ps.main(["--stack", "prod", "--input", str(PREVIEWS / "no-changes.json"), "--out", str(out), "--preview-exit-code", "255"])
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
    assert ps.main(["--stack", "staging", "--out", str(out)]) == 0
    assert out.read_text() == (PREVIEWS / "image-changed.md").read_text()
