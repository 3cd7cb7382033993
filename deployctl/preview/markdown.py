"""Markdown quoting: inline code and code fences that survive any backticks in the text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


def code(text: Any) -> str:
    """Inline code that survives any backticks in the text."""
    s = str(text).replace("\n", " ")
    fence = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def codes(items: Iterable[str]) -> str:
    return ", ".join(code(i) for i in items)


def fenced(body: str, lang: str = "") -> tuple[str, str]:
    """(opening, closing) of a code fence longer than any backtick run in body."""
    fence = "`" * max(3, max((len(r) for r in re.findall(r"`{3,}", body)), default=0) + 1)
    return f"{fence}{lang}", fence
