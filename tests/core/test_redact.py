"""The one redaction helper: redact first, then cut; every registered value, however short."""

from __future__ import annotations

from core.redact import Redactor, excerpt


def test_a_secret_cut_in_half_by_the_limit_leaves_no_prefix_behind() -> None:
    secret = "s3cr3t-token-0123456789"
    text = "x" * 95 + secret + " and more"
    cut = Redactor([secret]).excerpt(text, 100)
    assert "s3cr3" not in cut and cut.startswith("x" * 95 + "***")
    assert "s3cr3" in excerpt(text, 100)  # cutting first (the old order) would have kept the first characters


def test_short_values_are_redacted_too_and_the_longest_first() -> None:
    r = Redactor(["ab1", "ab1-long", "", None])
    assert r("key=ab1 other=ab1-long") == "key=*** other=***"


def test_control_characters_are_flattened_after_redaction() -> None:
    assert Redactor(["k"]).excerpt("a\x00b\tk\x1bc", 50) == "a b\t*** c"
