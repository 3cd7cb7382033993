"""The one redaction helper: secret values out of every message, then cut to length.

Rules (the same everywhere: client errors, provider errors, health answers, log tails):
* every registered non-empty value is replaced by ``***``, longest first, so a value that
  contains another is removed whole;
* redaction happens before any cut, so no prefix of a secret survives a truncation;
* control characters become spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Redactor:
    """A set of secret values and the function that removes them from text."""

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._values: set[str] = set()
        self.add(values)

    def add(self, values: Iterable[str | None]) -> None:
        """Register more values (None, empty and non-strings are ignored)."""
        self._values.update(v for v in values if isinstance(v, str) and v)

    def __call__(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        return text

    def excerpt(self, text: str, limit: int) -> str:
        """Redact, flatten control characters, then cut to ``limit`` characters (with "...")."""
        return excerpt(self(text), limit)


def redact(text: str, values: Iterable[str | None]) -> str:
    """``text`` with every value replaced by ``***``."""
    return Redactor(values)(text)


def excerpt(text: str, limit: int) -> str:
    """Control characters flattened, stripped, cut to ``limit`` (callers redact first)."""
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[:limit] + "..."
