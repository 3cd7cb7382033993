"""deployctl.preview.render: the golden Markdown summaries, the verdict line and the comment size budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployctl.preview.render import DEFAULT_MAX_CHARS, GITHUB_COMMENT_LIMIT
from tests.deployctl.preview import RECORDINGS, summary
from tests.deployctl.previews.record import leaked_secrets

# --- no fixture secret in any summary -------------------------------------------------------------


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_no_fixture_secret_reaches_a_recording_or_a_summary(path: Path) -> None:
    assert leaked_secrets(path.read_text()) == []
    assert leaked_secrets(path.with_suffix(".md").read_text()) == []
    assert leaked_secrets(summary(path.name)) == []
    assert leaked_secrets(summary(path.name, max_chars=5000)) == []


# --- golden summaries -----------------------------------------------------------------------------


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


def test_prod_promotion_and_prod_only_settings() -> None:
    promotion = summary("prod-promotion.json").splitlines()[1]
    assert promotion.startswith("**prod**: 2 services changed, redeploys `backend`, `frontend`")
    assert "**Production deploy**: promotes 2 image digests verified on staging." in promotion
    settings = summary("prod-settings.json")
    assert "**Production deploy**: prod-only settings change (not promoted from staging)." in settings
    assert "- `backend`: update (redeploys); `health_timeout` `180` → `300`" in settings
    assert "env changed `LOG_LEVEL`" in settings
    assert "WARNING" not in settings.split("<details>")[0]  # env values stay out of the visible part


# --- size -----------------------------------------------------------------------------------------


def test_140_services_stay_under_the_comment_limit() -> None:
    text = summary("many-services.json")
    assert len(text) < GITHUB_COMMENT_LIMIT
    assert len(text) <= DEFAULT_MAX_CHARS
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
