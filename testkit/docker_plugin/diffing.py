"""STAND-IN property diffing shared by the two resources.

``olds`` are the previous OUTPUTS (state) and ``news`` the checked INPUTS, as the engine sends
them. A property that is unknown in ``news`` (preview) counts as changed. Properties whose change
forces a new resource (``ForceNew`` upstream) are reported as replacements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime.proto import provider_pb2

from .props import contains_unknown, plain

Kind = provider_pb2.PropertyDiff.Kind
_EMPTY: tuple[Any, ...] = (None, [], {}, "")


@dataclass
class Diff:
    """Result of comparing one resource: changed keys, which force a replacement, and detail kinds."""

    diffs: list[str] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)
    detailed: dict[str, tuple[int, bool]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when anything changed."""
        return bool(self.diffs)

    def add(self, key: str, old: Any, new: Any, replace: bool, input_diff: bool = True) -> None:
        """Record one changed top-level property."""
        if key in self.diffs:
            return
        self.diffs.append(key)
        if replace:
            self.replaces.append(key)
        if old in _EMPTY:
            kind = Kind.ADD_REPLACE if replace else Kind.ADD
        elif new in _EMPTY:
            kind = Kind.DELETE_REPLACE if replace else Kind.DELETE
        else:
            kind = Kind.UPDATE_REPLACE if replace else Kind.UPDATE
        self.detailed[key] = (kind, input_diff)


def compare_inputs(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    keys: Iterable[str],
    replace_keys: Iterable[str],
    ignore: Iterable[str] = (),
    normalize: Mapping[str, Callable[[Any], Any]] | None = None,
) -> Diff:
    """Compare ``keys`` of old state and new inputs (secret wrappers ignored, unknown = changed)."""
    diff = Diff()
    replace_set, ignored, norm = set(replace_keys), set(ignore), dict(normalize or {})
    for key in keys:
        if key in ignored:
            continue
        new_raw = news.get(key)
        old, new = plain(olds.get(key)), plain(new_raw)
        if contains_unknown(new_raw):
            diff.add(key, old, new, key in replace_set)
            continue
        fix = norm.get(key, _default_norm)
        if fix(old) != fix(new):
            diff.add(key, old, new, key in replace_set)
    return diff


def _default_norm(value: Any) -> Any:
    return None if value in _EMPTY else value


def as_set(value: Any) -> Any:
    """Normalizer for TypeSet properties (``tagTriggers``): order does not matter."""
    if value in _EMPTY:
        return None
    return sorted(str(v) for v in value)


def as_bool_default_false(value: Any) -> bool:
    """Normalizer for optional booleans whose default is false."""
    return bool(value)
