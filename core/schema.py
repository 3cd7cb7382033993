"""The JSON Schemas of catalog.yaml and of a stack file (``schemas/``), and their errors as our one-line problems (pure).

The schemas are the shape (types, enums, ranges, required and unknown keys at every depth, descriptions from the
help texts) for editors (``# yaml-language-server: $schema=...``) and for the program alike. ``problems`` turns
jsonschema's errors into ``(path, message)`` pairs: a path of keys, a message in our form (``70000 should be a port
number in 1-65535``, ``unknown key; did you mean published? (allowed: ...)``). A node's ``errorMessage`` (the
keyword VS Code's YAML support shows too) is the message; without one a plain sentence is made from the keyword.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
CATALOG = "catalog.schema.json"
STACK = "stack.schema.json"
PathPart = str | int


@dataclass(frozen=True)
class Problem:
    """One problem: where (the keys from the document's root) and what, and the keyword that failed."""

    path: tuple[PathPart, ...]
    message: str
    keyword: str


@functools.cache
def load(name: str) -> dict[str, Any]:
    """One schema document, as data."""
    return dict(json.loads((SCHEMA_DIR / name).read_text()))


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    """A validator whose relative ``$ref``s (stack -> catalog) resolve to the files beside it, as an editor's do."""
    uri = {n: f"{SCHEMA_DIR.as_uri()}/{n}" for n in (CATALOG, STACK)}
    registry: Registry[Any] = Registry().with_resources((uri[n], Resource.from_contents({**load(n), "$id": uri[n]})) for n in uri)
    schema = {**load(name), "$id": uri[name]}
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


def problems(name: str, instance: Any) -> list[Problem]:
    """Every way ``instance`` differs from schema ``name``, in document order."""
    found: list[Problem] = []
    for error in _validator(name).iter_errors(instance):
        found.extend(_problems(error))
    return sorted(found, key=lambda p: _order(instance, p.path))


def _problems(error: ValidationError) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    keyword = str(error.validator)
    wanted: Any = error.validator_value
    if keyword == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(schema.get("properties") or {})
        patterns = list(schema.get("patternProperties") or {})
        for key in error.instance:
            if key not in allowed and not any(re.search(p, str(key)) for p in patterns):
                yield Problem((*path, key), unknown_key(str(key), allowed), keyword)
    elif keyword == "required" and isinstance(error.instance, Mapping):
        for key in wanted:
            if key not in error.instance:
                own = str(((schema.get("properties") or {}).get(key) or {}).get("errorMessage") or "")
                yield Problem((*path, key), own if own.startswith("is required") else "is required", keyword)
    elif "propertyNames" in error.absolute_schema_path:
        yield Problem((*path, str(error.instance)), str(schema.get("errorMessage") or f"{error.instance!r} is not a valid name"), keyword)
    elif keyword in ("anyOf", "oneOf") and isinstance(error.instance, Mapping) and (unknown := _unknown_in_branches(error)):
        yield from (Problem((*path, key), text, keyword) for key, text in unknown)
    elif keyword == "dependentRequired" and isinstance(error.instance, Mapping):
        for key, needs in (wanted or {}).items():
            missing = [n for n in needs if key in error.instance and n not in error.instance]
            if missing:
                yield Problem((*path, key), f"is only read together with {', '.join(missing)}", keyword)
    else:
        yield Problem(path, _with_value(error.instance, str(schema.get("errorMessage") or _plain(error))), keyword)


def unknown_key(key: str, allowed: Sequence[str]) -> str:
    """``unknown key; did you mean X? (allowed: ...)``: the nearest valid name when there is one."""
    close = difflib.get_close_matches(key, allowed, n=1)
    listed = f"(allowed: {', '.join(allowed)})"
    return f"unknown key; did you mean {close[0]}? {listed}" if close else f"unknown key {listed}"


def _unknown_in_branches(error: ValidationError) -> list[tuple[str, str]]:
    """Keys of an object that no branch of an anyOf/oneOf knows (an env value ``{secrt: true}``)."""
    given: Any = error.validator_value
    branches = [b for b in given if isinstance(b, Mapping) and "properties" in b]
    if not branches:
        return []
    known = sorted({str(k) for b in branches for k in b["properties"]})
    instance: Any = error.instance
    return [(str(k), unknown_key(str(k), known)) for k in instance if str(k) not in known]


def _with_value(value: Any, message: str) -> str:
    """``70000 should be ...``: a scalar value leads its message (never a mapping or list: they can be long)."""
    if isinstance(value, str | int | float | bool) and not message.startswith("is required"):
        return f"{value!r} {message}"
    return message


def _plain(error: ValidationError) -> str:
    """A sentence for a keyword whose schema node has no errorMessage."""
    value: Any = error.validator_value
    keyword = error.validator
    if keyword == "type":
        kinds = [value] if isinstance(value, str) else list(value)
        names = {"object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number", "boolean": "true or false"}
        return "should be " + " or ".join(names.get(k, f"a {k}") for k in kinds)
    if keyword == "enum":
        return "should be one of " + ", ".join(str(v) for v in value)
    if keyword == "const":
        return f"should be {json.dumps(value)}"
    if keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        word = {"minimum": "at least", "exclusiveMinimum": "more than", "maximum": "at most", "exclusiveMaximum": "less than"}[str(keyword)]
        return f"should be {word} {value}"
    if keyword in ("minItems", "minLength", "minProperties"):
        return "should not be empty"
    return str(error.message)


def _order(instance: Any, path: tuple[PathPart, ...]) -> tuple[int, ...]:
    """Where a path is in the document (the keys' order in their mapping), for reports that read top to bottom."""
    out: list[int] = []
    node = instance
    for part in path:
        if isinstance(node, Mapping):
            keys = list(node)
            out.append(keys.index(part) if part in keys else len(keys))
            node = node.get(part) if part in node else None
        elif isinstance(node, list) and isinstance(part, int):
            out.append(part)
            node = node[part] if part < len(node) else None
        else:
            out.append(0)
    return tuple(out)


def catalog_problems(raw: Any) -> list[Problem]:
    """catalog.yaml against schemas/catalog.schema.json."""
    return problems(CATALOG, raw)


def stack_problems(config: Mapping[str, Any]) -> list[Problem]:
    """A stack file's ``config:`` (full key -> value, secrets decrypted) against schemas/stack.schema.json; paths start at the key."""
    return [Problem(p.path[1:], p.message, p.keyword) for p in problems(STACK, {"config": dict(config)}) if p.path[:1] == ("config",)]


def takes_text(full_key: str) -> bool:
    """Whether the stack schema takes text for a key (the engine hands every value over as text: a text key's '123' stays
    text, a number key's '180' is the number 180)."""
    node = (load(STACK)["properties"]["config"]["properties"]).get(full_key) or {}
    kinds: set[str] = set()
    for branch in [node, *(node.get("anyOf") or [])]:
        kind = branch.get("type")
        kinds.update([kind] if isinstance(kind, str) else kind or [])
    return "string" in kinds


def fits(pointer: str, instance: Any) -> bool:
    """Whether ``instance`` is valid for one definition (``catalog.schema.json#/$defs/deploy``): code that only reads valid
    values asks this, the problems themselves are reported by the validation of the whole document."""
    name, _, fragment = pointer.partition("#")
    return bool(_fragment_validator(name, fragment).is_valid(instance))


@functools.cache
def _fragment_validator(name: str, fragment: str) -> Any:
    whole = _validator(name)
    return whole.evolve(schema={"$ref": f"{SCHEMA_DIR.as_uri()}/{name}#{fragment}"})
