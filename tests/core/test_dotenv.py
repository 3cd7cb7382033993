"""The dotenv text: spellings Dokploy's parser (npm dotenv 16.4.5, modelled by ``parse``) reads back exactly, the
values no spelling or mode carries, the line check, the values to redact."""

from __future__ import annotations

import random

import pytest

from core.dotenv import DotenvError, bad_line, encode, env_values, forms, parse, problem, quote, render_env_names, unquote

HARD = [
    "plain", "it's", 'say "hi"', "it's $x", "$HOME ${X} $$", "back\\slash", "ends\\", "line1\nline2", "cr\rlf", "tab\tx",
    "#hash", " both ends ", "k=v=w", "é日本 ✓", "`tick`", "it's \"both\"", "a\\nb's", "${{not closed", "", "\u2028x", "x\xa0",
]  # fmt: skip


@pytest.mark.parametrize("value", HARD)
def test_every_spelling_parses_back_to_the_value_whatever_follows(value: str) -> None:
    assert forms(value), "each of these has a spelling"
    for form in forms(value):
        for after in ("", "B='y'\n", "B=' #'\nC=`x`\n", 'B=" "\n'):
            assert parse(f"A='x'\nK={form}\n{after}")["K"] == value or value.endswith("\\")
    assert unquote(quote(value)) == value


def test_the_first_spelling_is_one_line_when_there_is_one() -> None:
    assert "\n" not in quote("line1\nline2") and "\r" not in quote("cr\rlf")
    assert quote("it's $x") == "`it's $x`"  # was "it's \$x", which Dokploy's parser keeps with its backslash
    assert quote("plain") == "'plain'"  # unchanged from before: no redeploy for values without a quote


def test_the_old_spelling_of_a_quote_and_a_dollar_gained_a_backslash() -> None:
    assert parse('K="it\'s \\$x"\n')["K"] == "it's \\$x"  # what the issue saw in the containers
    assert parse(f"K={quote(chr(39) + '$x')}\n")["K"] == "'$x"


def test_encode_reads_back_every_value_even_after_a_value_ending_in_a_backslash() -> None:
    values = {"A": "x\\", "B": " #y\\", "C": "' #", "D": "`", "E": '"#'}
    text = encode(values)
    assert parse(text) == values
    rnd = random.Random(7)
    alphabet = [*"ab '\"`$#\\=!{}:~\n\r\t", "\u2028", "é", "${"]
    for _ in range(300):
        vals = {f"V{i}": "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 6))) for i in range(6)}
        vals = {k: v for k, v in vals.items() if forms(v)}
        assert parse(encode(vals)) == vals


@pytest.mark.parametrize(
    ("value", "stack_mode", "says"),
    [
        ("'\"` #", False, "all three quotes"),
        ("'\"`\nx", False, "all three quotes"),
        ("a\r\"", False, "carriage return"),
        ("${{project.DB}}", False, "${{...}}"),
        ("pre ${{x}} post", False, "${{...}}"),
        ("it's!", True, "the ! keeps a backslash"),
        ("~/x", True, "bash expands it"),
        ("a{{b", True, "Go template"),
        ("nul\x00", False, "control character"),
    ],
)
def test_values_no_spelling_or_mode_carries_are_named_without_the_value(value: str, stack_mode: bool, says: str) -> None:
    why = problem(value, stack_mode)
    assert why is not None and says in why
    assert value.strip() not in why or not value.strip()
    with pytest.raises(DotenvError) as err:
        render_env_names("backend", ["S"], {"S": value}, stack_mode)
    assert "secret S" in str(err.value) and value not in str(err.value)


def test_compose_mode_carries_what_stack_mode_cannot() -> None:
    assert problem("it's!") is None and problem("~/x") is None
    assert problem("${{ no close") is None and problem("a'\"`") is None  # bare: no #, no break, no space at the ends


def test_a_line_with_a_raw_carriage_return_or_control_character_is_not_a_dotenv_line() -> None:
    assert bad_line("A='ok'\nB='x\ry'\n") == 2
    assert bad_line("A='ok'\nB='nul\x00'\n") == 2
    assert bad_line("# comment\n\nA='x'\nB=\"y\"\n") is None
    assert bad_line("A='two\nlines'\nB=`x`\n") is None  # a quoted value may span lines
    assert bad_line("not a line\n") == 1


def test_env_values_are_every_value_as_dokploy_reads_it_however_short() -> None:
    text = 'A=\'ab\'\nB="it\'s \\"q\\""\n# C=comment\nD=\nE=`x\ny`\n'
    assert env_values(text) == ["ab", 'it\'s \\"q\\"', "x\ny"]
