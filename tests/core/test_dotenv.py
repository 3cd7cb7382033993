"""The dotenv text: quoting that compose reads back exactly, the line check, the values to redact."""

from __future__ import annotations

import pytest

from core.dotenv import bad_line, env_values, quote, unquote


@pytest.mark.parametrize(
    "value", ["plain", "it's", 'say "hi"', "$HOME ${X} $$", "back\\slash", "line1\nline2", "cr\rlf", "tab\tx", "#hash", ""]
)
def test_every_printable_value_quotes_and_unquotes_to_itself(value: str) -> None:
    assert unquote(quote(value)) == value
    assert "\n" not in quote(value) and "\r" not in quote(value)  # one line per variable, always


def test_a_line_with_a_raw_carriage_return_or_control_character_is_not_a_dotenv_line() -> None:
    assert bad_line("A='ok'\nB='x\ry'\n") == 2
    assert bad_line("A='ok'\nB='nul\x00'\n") == 2
    assert bad_line("# comment\n\nA='x'\nB=\"y\"\n") is None
    assert bad_line("not a line\n") == 1


def test_env_values_are_every_value_unquoted_however_short() -> None:
    text = 'A=\'ab\'\nB="it\'s \\"q\\""\n# C=comment\nD=\n'
    assert env_values(text) == ["ab", 'it\'s "q"']
