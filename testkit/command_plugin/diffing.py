"""STAND-IN Check and Diff for ``command:local:Command``, after pulumi-go-provider v1.3.0 ``infer``.

The real provider (``infer.Resource`` with a custom Update) diffs the OLD INPUTS against the new
inputs, Pulumi style: one detailed-diff entry per changed leaf path (``triggers[0]``,
``environment.FOO``, ``create``), ADD / DELETE / UPDATE, with ``inputDiff`` false. Only an entry
whose path is exactly a ``replaceOnChanges`` property of the schema (``triggers``, i.e. triggers
added or removed as a whole) is a replacement from the provider itself; a changed trigger element
(``triggers[0]``) is turned into a replacement by the engine, because the SDK registers every
Command with ``replaceOnChanges: ["triggers[*]"]``. Any other change (``create`` included) is an
update in place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from pulumi.runtime.proto import provider_pb2

from testkit.docker_plugin.props import Props, contains_unknown, is_secret, is_unknown, plain

Kind = provider_pb2.PropertyDiff.Kind
KindValue: TypeAlias = provider_pb2.PropertyDiff.Kind.ValueType
REPLACE_ON_CHANGES = frozenset({"triggers"})
STRINGS = ("create", "update", "delete", "dir", "stdin", "logging")
STRING_LISTS = ("interpreter", "assetPaths", "archivePaths")
INPUTS = frozenset({*STRINGS, *STRING_LISTS, "environment", "triggers", "addPreviousOutputInEnv"})
NOT_IMPLEMENTED = ("assetPaths", "archivePaths")
_AS_REPLACE = {Kind.ADD: Kind.ADD_REPLACE, Kind.DELETE: Kind.DELETE_REPLACE, Kind.UPDATE: Kind.UPDATE_REPLACE}


def _type_error(key: str, value: Any) -> str | None:
    """Why ``value`` does not fit ``key``'s schema type (None when it does)."""
    if key in STRINGS and not isinstance(value, str):
        return "expected a string"
    if key in STRING_LISTS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return "expected a list of strings"
    if key == "environment" and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
        return "expected a map of strings"
    if key == "triggers" and not isinstance(value, list):
        return "expected a list"
    if key == "addPreviousOutputInEnv" and not isinstance(value, bool):
        return "expected a boolean"
    return None


def check(news: Mapping[str, Any]) -> tuple[Props, list[tuple[str, str]]]:
    """Checked inputs (nulls dropped, values kept as sent: secrets stay wrapped) and failures."""
    inputs: Props = {}
    failures: list[tuple[str, str]] = []
    for key, raw in news.items():
        if raw is None:
            continue
        inputs[key] = raw
        if key.startswith("__"):
            continue
        if key not in INPUTS:
            failures.append((key, f"unrecognized field {key!r}: not an input of command:local:Command"))
        elif key in NOT_IMPLEMENTED:
            failures.append((key, f"{key} is not implemented by the command stand-in (testkit/command_plugin)"))
        elif not contains_unknown(raw) and (reason := _type_error(key, plain(raw))):
            failures.append((key, reason))
    return inputs, failures


def path_string(parts: Iterable[str | int]) -> str:
    """A property path as Pulumi writes it: ``a.b``, ``a[0]``, ``a["x.y"]``."""
    out = ""
    for i, part in enumerate(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        elif all(c.isascii() and (c.isalnum() or c == "_") for c in part):
            out += f".{part}" if i else part
        else:
            escaped = part.replace('"', '\\"')
            out += f'["{escaped}"]'
    return out


def _has_value(value: Any) -> bool:
    return value is not None


def _value_diff(path: list[str | int], old: Any, new: Any, acc: dict[str, KindValue]) -> None:
    """One changed value: recurse into objects and lists, else a leaf UPDATE (or ADD / DELETE)."""
    if is_secret(old) or is_secret(new) or is_unknown(new):
        if is_unknown(new) or is_secret(old) != is_secret(new) or plain(old) != plain(new):
            acc[path_string(path)] = Kind.ADD if not _has_value(old) else Kind.UPDATE
        return
    if isinstance(old, dict) and isinstance(new, dict):
        _object_diff(path, old, new, acc)
    elif isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            if i >= len(old):
                acc[path_string([*path, i])] = Kind.ADD
            elif i >= len(new):
                acc[path_string([*path, i])] = Kind.DELETE
            else:
                _value_diff([*path, i], old[i], new[i], acc)
    elif old != new or type(old) is not type(new):
        if not _has_value(old):
            acc[path_string(path)] = Kind.ADD
        elif not _has_value(new):
            acc[path_string(path)] = Kind.DELETE
        else:
            acc[path_string(path)] = Kind.UPDATE


def _object_diff(path: list[str | int], olds: Mapping[str, Any], news: Mapping[str, Any], acc: dict[str, KindValue]) -> None:
    for key in sorted(set(olds) | set(news)):
        old, new = olds.get(key), news.get(key)
        if _has_value(old) and not _has_value(new):
            acc[path_string([*path, key])] = Kind.DELETE
        elif _has_value(new) and not _has_value(old):
            acc[path_string([*path, key])] = Kind.ADD
        elif _has_value(new):
            _value_diff([*path, key], old, new, acc)


@dataclass
class Diff:
    """What changed: detailed entries by property path, and the top-level keys they belong to."""

    detailed: dict[str, KindValue] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.detailed)

    @property
    def diffs(self) -> list[str]:
        return sorted({_head(path) for path in self.detailed})

    @property
    def replaces(self) -> list[str]:
        return sorted({_head(path) for path, kind in self.detailed.items() if kind in _AS_REPLACE.values()})


def _head(path: str) -> str:
    """The top-level key of a path (every input of the resource is a plain identifier)."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def diff(old_inputs: Mapping[str, Any], state: Mapping[str, Any], news: Mapping[str, Any], ignore_changes: Iterable[str] = ()) -> Diff:
    """Old inputs vs new inputs, as the real provider computes it (``ignoreChanges``: top-level keys)."""
    news = {k: v for k, v in news.items() if k != "version" and not k.startswith("__")}
    for key in ignore_changes:
        if key in state:
            news[key] = state[key]
    acc: dict[str, KindValue] = {}
    _object_diff([], {k: v for k, v in old_inputs.items() if not k.startswith("__")}, news, acc)
    return Diff({path: _AS_REPLACE[kind] if path in REPLACE_ON_CHANGES else kind for path, kind in acc.items()})
