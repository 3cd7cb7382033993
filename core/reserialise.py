"""What of our compose text survives Dokploy's re-serialisation, and the YAML dumper that keeps the rest (pure).

Dokploy v0.30.2 never deploys our compose text as we wrote it. Every deploy of a raw compose, in both compose types,
with or without domains (``getBuildComposeCommand`` -> ``writeDomainsToCompose`` -> ``addDomainToCompose``;
``compose.getConvertedCompose`` shows the same), parses it with npm ``yaml`` 2.8.1 (``parse(text, {maxAliasCount:
10000})``: YAML 1.2, core schema) and writes the data back (``stringify(value, {lineWidth: 1000})``); docker compose
(compose-go, go-yaml v3) or ``docker stack deploy`` (Docker CLI 28 and later, as in Dokploy's image: go-yaml v3;
older: go-yaml v2, which reads what ``problem`` lets through the same way) reads that.
The round trip keeps every value's text and type except for these (measured with the real package and docker compose,
tests/core/test_reserialise.py):

1. a string YAML 1.2 or go-yaml reads as something else when it stands unquoted (``08``, ``1e3``, ``0o17``, ``-.5``):
   PyYAML's YAML 1.1 rules leave those unquoted, and docker compose read them as numbers even before Dokploy. ``Dumper``
   quotes them; yaml 2.8.1 parses them as text and, seeing what YAML 1.2 would make of them, quotes them again;
2. a string YAML 1.2 reads as text, so yaml 2.8.1 writes it unquoted, that go-yaml reads as something else: numbers
   in Go's spellings (``1_000``, ``0b101``, ``0X1F``, ``+0x1F``: go-yaml drops ``_`` and reads every base prefix) and dates
   (``2024-01-01``: docker compose refuses the file, "invalid jsonType time.Time"). Our quotes are gone after Dokploy, so
   nothing we write can carry these: ``problem`` refuses them;
3. characters yaml 2.8.1 writes as they are, which go-yaml reads otherwise: U+0085, U+2028 and U+2029 (line breaks to
   go-yaml: the value changes or the file no longer parses) and U+007F-U+009F, U+FFFE, U+FFFF (go-yaml refuses the file).
   ``problem`` refuses them too;
4. a value of several lines that yaml 2.8.1 writes as a block scalar (``|-``) go-yaml misreads when its first line
   starts with a tab (the file is refused) or when it is only blanks and line breaks (the blanks are lost): refused.

Nothing else changes meaning: keys, ``$``/``$$`` (interpolation is docker compose's, after YAML), multi-line values
(written as block scalars), long lines (folded and read back the same), quotes, ``#``, ``: ``, leading indicators and
other unicode all arrive as written. Dokploy's ``randomize`` and ``isolatedDeployment`` (off for every compose we create)
would rename services, volumes and networks besides; they are not modelled.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

import yaml

RAW_CHARACTERS = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")
"""What yaml 2.8.1 writes as is and go-yaml then reads as a line break or refuses."""
_FORCED_QUOTES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters: yaml 2.8.1 writes a string holding one in double quotes (never as a block scalar)."""
_YAML12_OTHER = re.compile(
    r"(?:~|[Nn]ull|NULL)?|[Tt]rue|TRUE|[Ff]alse|FALSE|0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)"
)
"""The plain scalars yaml 2.8.1's core schema resolves to null, a boolean or a number (its tags' ``test`` expressions)."""
_GO_WORDS = {
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), "null"),
    **dict.fromkeys(("true", "True", "TRUE", "false", "False", "FALSE"), "a boolean"),
    **dict.fromkeys((".nan", ".NaN", ".NAN", *(s + w for s in ("", "+", "-") for w in (".inf", ".Inf", ".INF"))), "a number"),
}
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_GO_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")
_DATE = r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
_TIME = r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,][0-9]+)?"
_GO_TIMESTAMPS = (
    re.compile(_DATE),
    re.compile(_DATE + " " + _TIME),
    re.compile(_DATE + "[Tt]" + _TIME + r"(?:Z|[-+]([0-9]{2}):([0-9]{2}))"),
)
INT64 = 2**63
UINT64 = 2**64


def yaml12_reads_other(text: str) -> bool:
    """Whether yaml 2.8.1 (YAML 1.2 core schema) reads ``text`` unquoted as null, a boolean or a number; it then writes
    such a string quoted."""
    return _YAML12_OTHER.fullmatch(text) is not None


def go_yaml_reads_as(text: str) -> str | None:
    """What go-yaml v3 (docker compose, ``docker stack deploy`` of Docker CLI 28+) reads ``text`` unquoted as, when that
    is not text: "null", "a boolean", "a number" or "a date"; None for text."""
    if text in _GO_WORDS:
        return _GO_WORDS[text]
    if text[0] == ".":
        return "a number" if _GO_DOT_FLOAT.fullmatch(text) and not math.isinf(float(text)) else None
    if text[0] not in "+-0123456789":
        return None
    if _go_timestamp(text):
        return "a date"
    plain = text.replace("_", "")  # go-yaml drops every "_" before it tries a number
    if _go_int(plain) is not None or (_GO_FLOAT.fullmatch(plain) and not math.isinf(float(plain))):
        return "a number"
    return None


def _go_int(plain: str) -> int | None:
    """Go's ParseInt(plain, 0, 64), else ParseUint(plain, 0, 64): a sign, then 0x, 0b, 0o or a leading 0 (octal)."""
    if not _GO_INT.fullmatch(plain):
        return None
    sign, digits = (plain[0], plain[1:]) if plain[0] in "+-" else ("", plain)
    prefix = digits[:2].lower()
    base = {"0x": 16, "0b": 2, "0o": 8}.get(prefix, 8 if len(digits) > 1 and digits[0] == "0" else 10)
    value = int(digits[2:] if prefix in ("0x", "0b", "0o") else digits, base) * (-1 if sign == "-" else 1)
    return value if -INT64 <= value < INT64 or (not sign and 0 <= value < UINT64) else None


def _go_timestamp(text: str) -> bool:
    """One of the forms go-yaml v3 tries with Go's time.Parse: date, date and time, RFC 3339 (T or t); valid values only."""
    for form in _GO_TIMESTAMPS:
        m = form.fullmatch(text)
        if m is None:
            continue
        year, month, day, *rest = (int(g) for g in m.groups() if g is not None)
        try:
            datetime.date(year, month, day)
        except ValueError:
            return False
        hour, minute, second, *zone = rest or [0, 0, 0]
        return hour < 24 and minute < 60 and second < 60 and (not zone or (zone[0] <= 24 and zone[1] <= 60))
    return False


def read_as_other(text: str) -> bool:
    """Whether some reader on the way (YAML 1.1, YAML 1.2, go-yaml) could take ``text`` unquoted for something else than
    text: ``Dumper`` quotes it."""
    return yaml12_reads_other(text) or go_yaml_reads_as(text) is not None


def problem(text: str) -> str | None:
    """Why ``text`` cannot reach docker compose as written once Dokploy has re-written the compose file (None: it does)."""
    raw = RAW_CHARACTERS.search(text)
    if raw:
        ch = raw.group()
        what = "a line break" if ch in "\x85\u2028\u2029" else "a character it refuses (the deploy fails)"
        return (f"holds U+{ord(ch):04X}, which Dokploy's YAML writer (npm yaml 2.8.1) writes as it is and docker compose's "
                f"YAML reader takes for {what}")  # fmt: skip
    block = _block_problem(text)
    if block:
        return block
    if not yaml12_reads_other(text):
        other = go_yaml_reads_as(text)
        if other == "a date":
            return (f"{text!r} stops the deploy: Dokploy re-writes the compose file with YAML 1.2, which leaves it unquoted, "
                    "and docker compose's YAML reader takes it for a date and refuses the file")  # fmt: skip
        if other:
            return (f"{text!r} would reach docker compose as {other}: Dokploy re-writes the compose file with YAML 1.2, which "
                    "leaves it unquoted, and docker compose's YAML reader (go-yaml) takes it for one")  # fmt: skip
    return None


def _block_problem(text: str) -> str | None:
    """A value of several lines is written as a block scalar (``|-``) unless it holds a control character or its last
    line is only blanks; go-yaml misreads two kinds of them."""
    if "\n" not in text or _FORCED_QUOTES.search(text) or re.search(r"\n[\t ]+\Z", text):
        return None
    body = text.rstrip(" \t\n")
    if not body:
        if text.strip("\n"):
            return ("is only blanks and line breaks: Dokploy re-writes it as a block scalar (|), and docker compose's YAML "
                    "reader drops its blanks or refuses the file")  # fmt: skip
        return None
    lead = len(body) - len(body.lstrip(" \n"))
    if " " not in body[:lead] and body[lead] == "\t":
        return ("is several lines, the first of them starting with a tab: Dokploy re-writes it as a block scalar (|), and "
                "docker compose's YAML reader refuses a tab where it looks for the indentation (the deploy fails)")  # fmt: skip
    return None


def number_problem(value: int | float) -> str | None:
    """Why a whole number cannot reach docker compose as written once Dokploy has read it: JavaScript numbers are doubles
    (exact up to 2^53 - 1), and from 10^21 on they are written with an exponent."""
    if isinstance(value, bool) or not isinstance(value, int) or (float(value) == value and abs(value) < 10**21):
        return None
    near = float(value)
    written = str(int(near)) if abs(near) < 1e21 else repr(near)
    return f"{value} is not kept by Dokploy's YAML reader (JavaScript numbers are doubles): it would deploy {written}"


def problems_in(value: Any) -> list[tuple[str, str]]:
    """Every key and value of a nested setting that cannot reach docker compose as written: (its path below the setting,
    why), the path "" for the setting itself."""
    out: list[tuple[str, str]] = []
    if isinstance(value, str):
        why = problem(value)
        return [("", why)] if why else []
    if isinstance(value, int | float):
        why = number_problem(value)
        return [("", why)] if why else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        why = problem(key) if isinstance(key, str) else None
        if why:
            out.append((str(key), f"(the key) {why}"))
        out += [(f"{key}/{path}".rstrip("/"), why) for path, why in problems_in(item)]
    return out


_OTHER_TAG = "tag:bizosaas-deploy,2026:read-as-other"


class Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting also every string YAML 1.2 or go-yaml would read unquoted as something else, and
    writing a value used twice (a list of the catalog's deploy defaults) twice rather than as an anchor and alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        if kind is yaml.ScalarNode and implicit[0] and tag == "tag:yaml.org,2002:str" and read_as_other(value):
            return _OTHER_TAG
        return tag


def dump(doc: Any, width: int = 4096) -> str:
    """The compose text: block style, keys in our order, quoted where a reader on the way would take text for another type."""
    return yaml.dump(doc, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=width)
