"""The dotenv text Dokploy writes beside a compose file: render it from the secrets, check it, read its values."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from core.model import Catalog

ENV_LINE = re.compile(r"^(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*=")
UNSUPPORTED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters compose's .env parser cannot carry (newline, carriage return and tab can)."""
_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r"}


class DotenvError(ValueError):
    """A secret value that cannot go into the dotenv text (the message names the variable, never the value)."""


def render_env(catalog: Catalog, group: str, secrets: Mapping[str, str]) -> str:
    """The dotenv text of one group: only the secrets its services refer to, sorted by name.

    Every value round-trips through compose's .env parser (``quote``); a value with a control
    character compose cannot carry is refused.
    """
    return render_env_names(group, sorted(set().union(*(s.secret_names() for s in catalog.group(group)))), secrets)


def render_env_names(group: str, names: Iterable[str], secrets: Mapping[str, str]) -> str:
    """The dotenv text of the named secrets (a release's recorded env keys), sorted by name."""
    lines = []
    for name in sorted(names):
        value = secrets.get(name)
        if value is None:
            raise DotenvError(f"group {group}: secret {name} is not set")
        if UNSUPPORTED.search(value):
            raise DotenvError(f"group {group}: secret {name} contains a control character a .env file cannot carry")
        lines.append(f"{name}={quote(value)}")
    return "".join(line + "\n" for line in lines)


def quote(value: str) -> str:
    """``value`` as compose's .env parser reads it back exactly: single quotes (literal) when it can,
    else double quotes with ``\\``, ``\"``, ``\\$`` (no interpolation), ``\n`` and ``\r`` escaped."""
    if not any(c in value for c in "'\n\r"):
        return f"'{value}'"
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def unquote(text: str) -> str:
    """The value a ``quote``d (or plain) .env value stands for."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\([\\\"$nr])", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), text[1:-1])
    return text


def bad_line(env: str) -> int | None:
    """The number of the first line that is not ``KEY=value`` (blank lines and comments are fine), or None."""
    for n, line in enumerate(env.split("\n"), 1):  # a carriage return is part of a line, not an end
        s = line.strip()
        if (s and not s.startswith("#") and not ENV_LINE.match(s)) or UNSUPPORTED.search(line) or "\r" in line:
            return n
    return None


def env_values(env: str | None) -> list[str]:
    """Every value of a dotenv text, unquoted (what must never appear in a message)."""
    out: list[str] = []
    for line in (env or "").split("\n"):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        value = unquote(line.split("=", 1)[1])
        if value:
            out.append(value)
    return out
