"""deployctl.preview.analyse: what a reviewer learns per service and per compose project, and that secrets stay out."""

from __future__ import annotations

import copy

from core.wire import UNKNOWN
from deployctl.preview.analyse import TEST_TYPE, analyse, redact_compose, safe_url, short_digest
from deployctl.preview.markdown import code
from deployctl.preview.parse import Preview, Step, preview_from_events, top_key, urn_stack
from deployctl.preview.render import is_prod, render, summarize
from tests.deployctl.preview import pre_event, raw_events, summary
from tests.deployctl.previews.record import fake_secret_values, leaked_secrets

# --- per service and per compose project ----------------------------------------------------------


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
    text = summarize("staging", preview_from_events(events))
    assert leaked_secrets(text) == []
    assert "+      JWT_SECRET: <redacted>" in text
    assert "env changed `JWT_SECRET (secret)`" in text  # "<secret>" -> plaintext: named, not shown
    assert "- `backend`: update (redeploys); api_key (secret) changed; environment (secret) changed" in text


def test_redact_compose_keeps_references_and_hides_values() -> None:
    text = "    environment:\n      DATABASE_URL: ${DATABASE_URL}\n      JWT_SECRET: 'abc123'\n      - OPENAI_API_KEY=sk-1\n      LOG: x\n"
    out = redact_compose(text, {"DATABASE_URL", "JWT_SECRET", "OPENAI_API_KEY"})
    assert out.splitlines() == [
        "    environment:",
        "      DATABASE_URL: ${DATABASE_URL}",
        "      JWT_SECRET: <redacted>",
        "      - OPENAI_API_KEY=<redacted>",
        "      LOG: x",
    ]


# --- helpers --------------------------------------------------------------------------------------


def test_helpers() -> None:
    assert short_digest("ghcr.io/o/r@sha256:" + "ab" * 32) == "ababababab" + "ab"
    assert short_digest(UNKNOWN) == "known after push"
    assert code("a`b") == "``a`b``"
    assert top_key('services["brain-api"].image') == "services" and top_key("env") == "env"
    assert is_prod("prod") and is_prod("org/bizosaas-deploy/prod") and not is_prod("staging")
    assert safe_url("https://u:p@h:1/health?token=abc&x=1") == "https://<redacted>@h:1/health?token=<redacted>&x=<redacted>"
    assert safe_url("https://h:8001/health") == "https://h:8001/health"
    assert urn_stack("urn:pulumi:staging::bizosaas-deploy::pulumi:pulumi:Stack::x") == "staging"


# --- the pre-push test gate -----------------------------------------------------------------------


def test_a_new_image_is_listed_as_tested_before_its_push() -> None:
    text = summary("image-tested.json")
    assert text.splitlines()[1].startswith("**staging**: 1 service changed, redeploys `backend`, 1 image test, 1 image push.")
    assert "**Image tests (1)**: each runs before its image is tagged and pushed; a failing test stops that push" in text
    assert "- `ai-agents`: new local image: tested before it is pushed" in text
    assert "Warning" not in text and "Other resources" not in text  # the test and its re-tag are part of the push
    assert summary("image-tested.preview.json") == text


def test_turning_the_gate_on_tests_every_image_and_pushes_nothing() -> None:
    text = summary("gate-turned-on.json")
    assert text.splitlines()[1].startswith("**staging**: 0 services changed, no compose project redeploys, 14 image tests, 0 image pushes.")
    assert text.count(": first test of this image") == 14
    assert "Other resources" not in text  # the re-tags by the tested id and the engine's default command provider are plumbing


def test_pushes_without_a_test_are_a_warning() -> None:
    text = summary("image-pushed.json")
    assert "**Warning**: 1 image is pushed WITHOUT a pre-push test (`testGate: false`): `ai-agents`." in text
    assert "Image tests" not in text


def _step(urn_name: str, type_: str, op: str, parent: str = "", diff_keys: tuple[str, ...] = ()) -> Step:
    return Step(f"urn:pulumi:staging::bizosaas-deploy::{type_}::{urn_name}", type_, op, parent=parent, diff_keys=diff_keys)


def test_a_changed_test_runs_again_and_a_removed_gate_is_named() -> None:
    parent = "urn:pulumi:staging::bizosaas-deploy::bizosaas:index:ServiceTest::brain-api"
    changed = analyse("staging", Preview((
        _step("brain-api-test", TEST_TYPE, "update", parent, ("create", "environment")),
        _step("auth-service-test", TEST_TYPE, "same"),
    )))
    assert [(t.service, t.why) for t in changed.tests] == [("brain-api", "the test changed (`create`, `environment`): tested again")]
    text = render(changed)
    assert "0 services changed, no compose project redeploys, 1 image test, 0 image pushes" in text
    removed = analyse("staging", Preview((
        _step("brain-api-test", TEST_TYPE, "delete"),
        _step("brain-api-image", "docker:index/registryImage:RegistryImage", "replace"),
    )))
    assert removed.untested == ("brain-api",) and removed.tests_run == ()
    text = render(removed)
    assert "- `brain-api`: test removed: the image is no longer tested before a push" in text
    assert "**Warning**: 1 image is pushed WITHOUT a pre-push test (`testGate: false`): `brain-api`." in text


def test_a_move_to_stack_mode_or_another_server_is_a_replacement_said_plainly() -> None:
    compose = "pulumi-python:dynamic/dokploy:ComposeProject"
    old = {"compose_type": "docker-compose", "server_name": "", "server_id": "", "compose_file": "a", "services": {}}
    new = {**old, "compose_type": "stack", "compose_file": "b"}
    step = Step(f"urn:pulumi:staging::bizosaas-deploy::{compose}::frontend", compose, "replace", old, old, new, diff_keys=("compose_type",))
    [project] = analyse("staging", Preview((step,))).projects
    assert project.verb == (
        "replace: moves from compose mode (docker compose) on Dokploy's host to stack mode (docker stack deploy on Dokploy's Swarm) "
        "on Dokploy's host: the compose project is deleted in Dokploy (its containers or services stop) and created again there, "
        "then deployed and verified; it does not answer in between"
    )
    assert "`compose_type` `docker-compose` → `stack`" in project.details
    placed = {**new, "server_name": "edge-1", "server_id": "s1"}
    step = Step(step.urn, compose, "replace", new, new, placed, diff_keys=("server_name",))
    [project] = analyse("staging", Preview((step,))).projects
    assert project.verb.startswith("replace: moves from stack mode (docker stack deploy on Dokploy's Swarm) on Dokploy's host to stack "
                                   "mode (docker stack deploy on Dokploy's Swarm) on server `edge-1`: ")
    step = Step(step.urn, compose, "replace", placed, placed, {**placed, "server_id": "s2"}, diff_keys=("server_id",))
    [project] = analyse("staging", Preview((step,))).projects
    assert "on server `edge-1` (a server deleted and created again in Dokploy) to " in project.verb
    renamed = Step(step.urn, compose, "replace", old, old, {**old, "compose_name": "web"}, diff_keys=("compose_name",))
    assert analyse("staging", Preview((renamed,))).projects[0].verb == "replace (deleted and re-created, then deployed)"


# --- routes: per service, what a reviewer must see before a host moves ----------------------------


def test_routes_added_changed_and_removed_are_said_per_service() -> None:
    events = copy.deepcopy(raw_events("port-changed.json"))
    md = pre_event(events, "::frontend", "update")
    route = {"host": "portal.staging.example.com", "path": "/", "port": 3000, "https": True, "certificate": "letsencrypt",
             "cert_resolver": "", "health": "/api/health"}
    md["old"]["inputs"]["routes"] = {
        "client-portal": route,
        "admin-dashboard": {**route, "host": "admin.staging.example.com", "port": 3009},
        "thrillring-gaming": {**route, "host": "thrillring.staging.example.com"},
        "(not declared) old.staging.example.com": {**route, "host": "old.staging.example.com", "service": "client-portal"},
    }
    md["new"]["inputs"]["routes"] = {
        "client-portal": {**route, "host": "app.staging.example.com"},
        "admin-dashboard": {**route, "host": "admin.staging.example.com", "port": 3009, "https": False, "certificate": "none"},
        "coreldove-frontend": {**route, "host": "shop.staging.example.com", "port": 3012},
    }
    md["diffs"] = [*md.get("diffs", []), "routes"]
    text = summarize("staging", preview_from_events(events))
    assert "route `https://portal.staging.example.com` → `https://app.staging.example.com`" in text
    assert "domain `https://old.staging.example.com` made in Dokploy is removed (no route declares it)" in text
    assert "- `admin-dashboard` (`frontend`): route `https://admin.staging.example.com` → `http://admin.staging.example.com`" in text
    assert "- `coreldove-frontend` (`frontend`): route added `https://shop.staging.example.com` (letsencrypt)" in text
    assert "- `thrillring-gaming` (`frontend`): route removed (was `https://thrillring.staging.example.com`)" in text
    assert "`routes` changed" not in text  # said per service, not as a setting


def test_a_route_setting_change_under_one_url_names_the_setting() -> None:
    from deployctl.preview.analyse import route_lines

    route = {"host": "api.example.com", "path": "/", "port": 8001, "https": True, "certificate": "letsencrypt", "cert_resolver": ""}
    assert route_lines({"brain-api": route}, {"brain-api": {**route, "port": 8002}}) == {
        "brain-api": ["route `https://api.example.com`: port `8001` → `8002`"]}
    assert route_lines({"brain-api": route}, {"brain-api": route}) == {}
