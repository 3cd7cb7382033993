"""The dotenv text Dokploy writes beside a compose file: render it from the secrets, check it, read its values."""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.model import Catalog

ENV_LINE = re.compile(r"^(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*=")


class DotenvError(ValueError):
    """A secret value that cannot go into the dotenv text (the message names the variable, never the value)."""


def render_env(catalog: Catalog, group: str, secrets: Mapping[str, str]) -> str:
    """The dotenv text of one group: only the secrets its services refer to, sorted by name.

    Values are single-quoted for compose's .env parser; a value with a newline or a single quote
    is refused.
    """
    names = sorted(set().union(*(s.secret_names() for s in catalog.group(group))))
    lines = []
    for name in names:
        value = secrets.get(name)
        if value is None:
            raise DotenvError(f"group {group}: secret {name} is not set")
        if "\n" in value or "'" in value:
            raise DotenvError(f"group {group}: secret {name} contains a newline or a single quote")
        lines.append(f"{name}='{value}'")
    return "".join(line + "\n" for line in lines)


def bad_line(env: str) -> int | None:
    """The number of the first line that is not ``KEY=value`` (blank lines and comments are fine), or None."""
    for n, line in enumerate(env.splitlines(), 1):
        s = line.strip()
        if s and not s.startswith("#") and not ENV_LINE.match(s):
            return n
    return None


def env_values(env: str | None) -> list[str]:
    """Every value of a dotenv text, unquoted (what must never appear in a message)."""
    out: list[str] = []
    for line in (env or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        value = line.split("=", 1)[1].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if value:
            out.append(value)
    return out
