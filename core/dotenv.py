"""The dotenv text Dokploy keeps for a compose project: render it from the secrets, check it, read its values.

Dokploy v0.30.2 does not hand this text to compose as it is (``utils/builders/compose.ts``,
``utils/docker/utils.ts``). It reads it with the npm ``dotenv`` package's ``parse`` (16.4.5, the
version its lockfile pins; ``parse`` below is a model of it), replaces ``${{project.X}}``,
``${{environment.X}}`` and ``${{X}}`` in every value, and then

* compose mode: writes each value again as ``KEY="..."`` (``\\``, ``"`` and ``$`` escaped, line
  breaks raw) into the ``.env`` that docker compose reads and interpolates the compose file with;
* stack mode: puts ``KEY=<shell-quote's quote(value)>`` on the ``env -i ... docker stack deploy``
  command line that ``/bin/sh`` runs (empty values left out), and docker interpolates the compose
  file from that environment.

So a value must survive ``parse`` first: ``quote`` picks, per value, the dotenv form that ``parse``
reads back exactly (single quotes, backticks, double quotes with ``\\n``/``\\r``, or bare), and
``problem`` names the values that no form and no mode carries (``dotenv.parse`` has no escape for a
quote inside its own kind of quotes, Dokploy's substitution has none for ``${{``; in stack mode a
``!`` inside shell-quote's double quotes keeps its backslash, and Swarm expands ``{{`` in an env
value as a Go template). The messages name the variable, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from core.model import Catalog

ENV_LINE = re.compile(r"^(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*=")
UNSUPPORTED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters no .env form carries (newline, carriage return and tab can)."""

_JS_SPACE = "\t\n\x0b\x0c\r \xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
"""JavaScript's ``\\s`` and what ``String.prototype.trim`` removes (Python's ``str.strip`` differs)."""
_S = "[" + re.escape(_JS_SPACE) + "]"
_BOL = "(?:^|(?<=[\u2028\u2029]))"  # JavaScript's ^ and $ with the m flag: at every line terminator
_EOL = "(?=[\n\u2028\u2029]|\\Z)"
_LINE = re.compile(
    rf"{_BOL}{_S}*(?:export{_S}+)?([A-Za-z0-9_.-]+)(?:{_S}*={_S}*?|:{_S}+?)"
    rf"({_S}*'(?:\\'|[^'])*'|{_S}*\"(?:\\\"|[^\"])*\"|{_S}*`(?:\\`|[^`])*`|[^#\r\n]+)?{_S}*(?:#[^\n\r\u2028\u2029]*)?{_EOL}",
    re.MULTILINE,
)
_OUTER_QUOTES = re.compile(rf"{_BOL}(['\"`])([\s\S]*)\1{_EOL}", re.MULTILINE)
_SUBSTITUTED = re.compile(r"\$\{\{[^\n\r\u2028\u2029]*?\}\}")
"""What Dokploy's prepareEnvironmentVariables replaces in a value (JavaScript's ``.`` stops at line terminators)."""


class DotenvError(ValueError):
    """A secret value that cannot go into the dotenv text (the message names the variable, never the value)."""


def _js_trim(text: str) -> str:
    return text.strip(_JS_SPACE)


def parse(text: str) -> dict[str, str]:
    """npm dotenv 16.4.5's ``parse``: what Dokploy reads from the env text (later keys win, first position kept).

    Line breaks are normalised (``\\r\\n`` and ``\\r`` become ``\\n``); a value in single quotes, backticks or
    double quotes may span lines and is taken literally, except that in double quotes ``\\n`` and ``\\r``
    become a line break and a carriage return; no other escape exists (a backslash stays); a bare value ends at
    ``#`` or the end of the line and is trimmed; a bare value that starts and ends with the same quote loses them.
    """
    text = re.sub(r"\r\n?", "\n", text)
    out: dict[str, str] = {}
    for m in _LINE.finditer(text):
        value = _js_trim(m.group(2) or "")
        first = value[:1]
        value = _OUTER_QUOTES.sub(r"\2", value)
        if first == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r")
        out[m.group(1)] = value
    return out


def _bare_ok(value: str) -> bool:
    return bool(value) and not re.search(r"[#\r\n\u2028\u2029]", value) and value[0] not in "'\"`" and _js_trim(value) == value


def forms(value: str) -> list[str]:
    """Every dotenv spelling of ``value`` that ``parse`` reads back exactly, one-line forms first."""
    out = []
    for q in "'`":
        if q not in value and "\r" not in value:
            out.append(f"{q}{value}{q}")
    if '"' not in value and "\\n" not in value and "\\r" not in value:
        out.append('"' + value.replace("\n", "\\n").replace("\r", "\\r") + '"')
    if _bare_ok(value):
        out.append(value)
    # one-line forms first; a bare value ending in a backslash before any quoted one (no closing quote to escape)
    return sorted(out, key=lambda form: ("\n" in form, not (form == value and value.endswith("\\"))))


def quote(value: str) -> str:
    """``value`` as Dokploy's dotenv parser reads it back exactly (a DotenvError when no form does: see ``problem``)."""
    found = forms(value)
    if not found:
        raise DotenvError("the value has no dotenv form Dokploy reads back as it is")
    return found[0]


def problem(value: str, stack_mode: bool = False) -> str | None:
    """Why ``value`` cannot reach a container exactly as it is through Dokploy (None: it can); never quotes the value."""
    if UNSUPPORTED.search(value):
        return "contains a control character a .env file cannot carry (only tab and line breaks can)"
    if not forms(value):
        return (
            "has no spelling Dokploy's .env parser (npm dotenv 16.4.5) reads back as it is: it holds all three quotes "
            "(' \" `) and also #, a line break, a space at either end or a leading quote, or it holds a carriage return "
            'and a " or the two characters \\n or \\r'
        )
    if _SUBSTITUTED.search(value):
        return "contains ${{...}}, which Dokploy replaces with a project, environment or service variable (there is no escape)"
    if stack_mode and "{{" in value:
        return "contains {{: in stack mode Swarm expands every env value as a Go template when it creates the container"
    if stack_mode and "'" in value and "!" in value:
        return (
            "holds both ' and !: in stack mode Dokploy passes it to docker stack deploy in double quotes (shell-quote), "
            "where the ! keeps a backslash"
        )
    if stack_mode and not re.search(r"[\"'\s\\]", value) and re.search(r"(^|:)~", value):
        return "starts with ~ or has :~: in stack mode a remote server's bash expands it (Dokploy passes it unquoted)"
    return None


def render_env(catalog: Catalog, group: str, secrets: Mapping[str, str]) -> str:
    """The dotenv text of one group: only the secrets its services refer to, sorted by name.

    Every value round-trips through Dokploy's dotenv parser (``quote``); a value that cannot is refused.
    """
    return render_env_names(group, sorted(set().union(*(s.secret_names() for s in catalog.group(group)))), secrets)


def render_env_names(group: str, names: Iterable[str], secrets: Mapping[str, str], stack_mode: bool = False) -> str:
    """The dotenv text of the named secrets (a release's recorded env keys), sorted by name."""
    values: dict[str, str] = {}
    for name in sorted(names):
        value = secrets.get(name)
        if value is None:
            raise DotenvError(f"group {group}: secret {name} is not set")
        why = problem(value, stack_mode)
        if why:
            raise DotenvError(f"group {group}: secret {name} {why}")
        values[name] = value
    try:
        return encode(values)
    except DotenvError as exc:
        raise DotenvError(f"group {group}: {exc}") from None


def encode(values: Mapping[str, str]) -> str:
    """``KEY=<form>`` lines that Dokploy's parser reads back as exactly ``values`` (in their order).

    A quoted value that ends with a backslash can make the parser take its closing quote as escaped and end the
    value at a later quote of the same kind: the whole text is parsed back, and such a value takes its next form.
    """
    choice = dict.fromkeys(values, 0)
    while True:
        text = "".join(f"{k}={forms(v)[choice[k]]}\n" for k, v in values.items())
        got = parse(text)
        wrong = next((k for k, v in values.items() if got.get(k) != v), None)
        if wrong is None:
            return text
        if choice[wrong] + 1 >= len(forms(values[wrong])):
            raise DotenvError(f"secret {wrong} ends with a backslash and no spelling of it keeps the values after it intact")
        choice[wrong] += 1


def unquote(text: str) -> str:
    """The value one ``KEY=<text>`` spelling stands for (as Dokploy's parser reads it)."""
    return parse(f"K={text}\n").get("K", "")


def bad_line(env: str) -> int | None:
    """The number of the first line that is not part of a ``KEY=value`` (a quoted value may span lines; blank lines and
    comments are fine) or holds a control character or a raw carriage return, or None."""
    covered: set[int] = set()
    for m in _LINE.finditer(env):
        first = env.count("\n", 0, m.start()) + 1
        covered.update(range(first, first + m.group(0).count("\n") + 1))
    for n, line in enumerate(env.split("\n"), 1):
        if UNSUPPORTED.search(line) or "\r" in line:
            return n
        s = line.strip()
        if s and not s.startswith("#") and n not in covered:
            return n
    return None


def env_values(env: str | None) -> list[str]:
    """Every value of a dotenv text as Dokploy reads it (what must never appear in a message)."""
    return [value for value in parse(env or "").values() if value.strip()]  # blanks hide nothing, and would blank every message
