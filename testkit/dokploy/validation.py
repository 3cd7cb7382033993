"""Request validation for the Dokploy v0.30.2 STAND-IN, driven by Dokploy's own OpenAPI document.

Real Dokploy parses every REST input with zod (v4) after ``@dokploy/trpc-openapi`` has
(1) spread the body/query into a fresh object, (2) coerced every number/boolean field
(``Boolean(x)`` / ``Number(x)``, also for JSON bodies) and (3) zod strips unknown keys.
This module reproduces that pipeline on top of the published OpenAPI 3.1 document
(``openapi.json``, copied from Dokploy/website): coercion, defaults and stripping are applied
by walking the operation's schema, then the result is validated with ``jsonschema``
(Draft 2020-12, ``$ref`` resolved into the document) and every error is translated into the
zod-v4 issue objects Dokploy returns (``invalid_type``, ``too_small``, ``invalid_value``...).

The document is loaded and indexed once per process; validators are compiled lazily and
cached per operation.
"""

from __future__ import annotations

import copy
import json
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
DOC_URI = "urn:fake-dokploy:openapi"

# Custom zod messages Dokploy attaches to some checks (the OpenAPI document loses them).
APP_NAME_PATTERN = "^[a-zA-Z0-9._-]+$"
APP_NAME_MESSAGE = "App name can only contain letters, numbers, dots, underscores and hyphens"
CONTAINER_ID_PATTERN = "^[a-zA-Z0-9.\\-_]+$"  # docker.ts containerIdRegex
PATTERN_MESSAGES = {  # zod's custom .regex() messages, which the OpenAPI document does not keep
    (APP_NAME_PATTERN, "appName"): APP_NAME_MESSAGE,
    (CONTAINER_ID_PATTERN, "containerId"): "Invalid container id.",
    (CONTAINER_ID_PATTERN, "appName"): "Invalid app name.",
    ("^(all|\\d+[smhd])$", "since"): "Invalid since format",
}
ICON_MAX = 2 * 1024 * 1024
ICON_MESSAGE = "Icon must be less than 2MB"

# Fields whose zod schema is wrapped by `.required()` (ZodNonOptional): a missing value reports
# "expected nonoptional". Required-and-nullable fields are treated the same way (they can only
# come from `.required()` on a drizzle insert schema).
NONOPTIONAL_FIELDS: dict[str, frozenset[str]] = {
    "compose.saveEnvironment": frozenset({"composeId", "env"}),
}


class _Absent:
    """Marker for a key that is not present (JavaScript `undefined`)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


class ValidationFailed(Exception):
    """The input was rejected; `issues` are zod-v4 issue objects, in zod order."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        super().__init__("Input validation failed")
        self.issues = issues

    def flatten(self) -> dict[str, Any]:
        """`ZodError.flatten()` as Dokploy's errorFormatter puts it in `data.zodError`."""
        form: list[str] = []
        fields: dict[str, list[str]] = {}
        for issue in self.issues:
            path = issue.get("path") or []
            if path:
                fields.setdefault(str(path[0]), []).append(issue["message"])
            else:
                form.append(issue["message"])
        return {"formErrors": form, "fieldErrors": fields}


@dataclass(frozen=True)
class Operation:
    """One tRPC procedure as exposed by the REST adapter."""

    procedure: str  # canonical spelling, e.g. "compose.create"
    method: str  # "GET" (query) or "POST" (mutation)
    body_pointer: str | None  # JSON pointer of the JSON request-body schema (POST)
    params: tuple[tuple[str, str, bool], ...]  # (name, pointer of schema, required) for GET
    has_input: bool


# ---------------------------------------------------------------------------------------------
# JavaScript semantics used by the coercion step


_JS_WS = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def normalize_number(value: float | int) -> float | int:
    """JS has one number type: print integral floats as integers (JSON.stringify(5.0) == "5")."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


def js_string(value: Any) -> str:
    """`String(value)` for JSON values (used by Number([..]))."""
    if value is None or value is ABSENT:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return js_number_to_string(value)
    if isinstance(value, list):
        return ",".join(js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def js_number_to_string(value: float | int) -> str:
    """Number#toString for the values that reach error messages."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        value = normalize_number(value)
    return str(value)


def js_number(value: Any) -> float | int:
    """`Number(value)` (zod `z.coerce.number()`)."""
    if value is ABSENT:
        return math.nan
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list):
        return js_number(js_string(value))
    if isinstance(value, dict):
        return math.nan
    text = str(value).strip(_JS_WS)
    if not text:
        return 0
    if text in ("Infinity", "+Infinity"):
        return math.inf
    if text == "-Infinity":
        return -math.inf
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if text[:2].lower() == prefix:
            try:
                return int(text[2:], base)
            except ValueError:
                return math.nan
    if _DECIMAL.fullmatch(text):
        return normalize_number(float(text))
    return math.nan


def js_boolean(value: Any) -> bool:
    """`Boolean(value)` (zod `z.coerce.boolean()`): only falsy values give false."""
    if value is ABSENT or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return not (value == 0 or (isinstance(value, float) and math.isnan(value)))
    if isinstance(value, str):
        return value != ""
    return True


def parsed_type(value: Any) -> str:
    """The `received` word zod v4 puts in "Invalid input: expected X, received Y"."""
    if value is ABSENT:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "NaN" if isinstance(value, float) and math.isnan(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _stringify_primitive(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return js_number_to_string(value)
    return str(value)


def invalid_value_issue(values: list[Any], path: list[Any]) -> dict[str, Any]:
    if len(values) == 1:
        message = f"Invalid input: expected {_stringify_primitive(values[0])}"
    else:
        message = "Invalid option: expected one of " + "|".join(_stringify_primitive(v) for v in values)
    return {"code": "invalid_value", "values": list(values), "path": path, "message": message}


def invalid_type_issue(expected: str, value: Any, path: list[Any]) -> dict[str, Any]:
    issue: dict[str, Any] = {"expected": expected, "code": "invalid_type"}
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)) and expected == "number":
        issue["received"] = "NaN" if math.isnan(value) else "Infinity"
    issue["path"] = path
    received = parsed_type(value)
    if isinstance(value, float) and math.isinf(value):
        received = "number"
    issue["message"] = f"Invalid input: expected {expected}, received {received}"
    return issue


# ---------------------------------------------------------------------------------------------


class OpenApiIndex:
    """Dokploy's OpenAPI document, indexed by procedure, with cached validators."""

    def __init__(self, path: Path = OPENAPI_PATH) -> None:
        with path.open(encoding="utf-8") as fh:
            self.doc: dict[str, Any] = json.load(fh)
        self.version = self.doc.get("info", {}).get("version")
        self._ops: dict[str, Operation] = {}
        for route, methods in self.doc.get("paths", {}).items():
            procedure = route.lstrip("/")
            esc = "/paths/" + route.replace("~", "~0").replace("/", "~1")
            for method, op in methods.items():
                method_u = method.upper()
                if method_u not in ("GET", "POST"):
                    continue
                body_pointer = None
                params: list[tuple[str, str, bool]] = []
                if method_u == "POST":
                    content = (op.get("requestBody") or {}).get("content") or {}
                    if "application/json" in content and "schema" in content["application/json"]:
                        body_pointer = f"{esc}/{method}/requestBody/content/application~1json/schema"
                for i, prm in enumerate(op.get("parameters") or []):
                    if prm.get("in") == "query":
                        params.append((prm["name"], f"{esc}/{method}/parameters/{i}/schema", bool(prm.get("required"))))
                has_input = body_pointer is not None or bool(params)
                self._ops[procedure.lower()] = Operation(procedure, method_u, body_pointer, tuple(params), has_input)
        self._registry: Registry = Registry().with_resource(DOC_URI, Resource(contents=self.doc, specification=DRAFT202012))
        self._validators: dict[str, Draft202012Validator] = {}
        self._lock = threading.Lock()

    # -- lookup ------------------------------------------------------------------------------

    def find(self, procedure: str) -> Operation | None:
        """Case-insensitive, like the adapter's path regex."""
        return self._ops.get(procedure.lower())

    def procedures(self) -> list[str]:
        return sorted(op.procedure for op in self._ops.values())

    def pointer(self, pointer: str) -> Any:
        node: Any = self.doc
        for raw in pointer.lstrip("/").split("/"):
            part = raw.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def resolve(self, schema: Any) -> Any:
        """Follow `$ref`s (all of them are local to the document)."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            ref = schema["$ref"]
            if ref.startswith(DOC_URI):
                ref = ref[len(DOC_URI) :]
            schema = self.pointer(ref.lstrip("#"))
            seen += 1
        return schema

    def input_schema(self, op: Operation) -> dict[str, Any] | None:
        """The schema of the input object (body for POST, synthesized from query params for GET)."""
        if op.body_pointer:
            return self.resolve(self.pointer(op.body_pointer))
        if op.params:
            return {
                "type": "object",
                "properties": {name: self.resolve(self.pointer(ptr)) for name, ptr, _ in op.params},
                "required": [name for name, _, req in op.params if req],
            }
        return None

    def validator(self, op: Operation) -> Draft202012Validator | None:
        """Compiled once per operation and cached."""
        if not op.has_input:
            return None
        key = op.procedure
        with self._lock:
            found = self._validators.get(key)
            if found is None:
                if op.body_pointer:
                    schema: dict[str, Any] = {"$ref": f"{DOC_URI}#{op.body_pointer}"}
                else:
                    schema = {
                        "type": "object",
                        "properties": {name: {"$ref": f"{DOC_URI}#{ptr}"} for name, ptr, _ in op.params},
                        "required": [name for name, _, req in op.params if req],
                    }
                found = Draft202012Validator(schema, registry=self._registry)
                self._validators[key] = found
            return found

    # -- the pipeline ------------------------------------------------------------------------

    def parse(self, op: Operation, raw: dict[str, Any], *, coerce: bool = True, from_query: bool = False) -> dict[str, Any]:
        """Coerce, default, strip and validate `raw`; return the parsed input or raise ValidationFailed."""
        schema = self.input_schema(op)
        validator = self.validator(op)
        if schema is None or validator is None:
            return {}
        if from_query:
            raw = self._wrap_query_arrays(schema, raw)
        pre_issues: list[dict[str, Any]] = []
        value = self._object(schema, raw, coerce, [], pre_issues)
        bad_paths = {tuple(i["path"]) for i in pre_issues}
        issues = list(pre_issues)
        seen: set[str] = set()
        for error in validator.iter_errors(value):
            if tuple(error.absolute_path) in bad_paths:
                continue
            for issue in self._issues(error, op):
                key = json.dumps(issue, sort_keys=True, default=str)
                if key not in seen:  # jsonschema reports `required` once per missing key
                    seen.add(key)
                    issues.append(issue)
        if issues:
            order = list((schema.get("properties") or {}).keys())

            def rank(issue: dict[str, Any]) -> int:
                path = issue.get("path") or []
                return order.index(path[0]) if path and path[0] in order else len(order)

            issues.sort(key=rank)
            raise ValidationFailed(issues)
        return value

    def _wrap_query_arrays(self, schema: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
        out = dict(raw)
        for name, prop in (schema.get("properties") or {}).items():
            if name in out and not isinstance(out[name], list) and self.resolve(prop).get("type") == "array":
                out[name] = [out[name]]
        return out

    def _branches(self, schema: Any) -> tuple[list[dict[str, Any]], bool]:
        """Non-null alternatives of a schema and whether null is accepted (zod `.nullable()`)."""
        s = self.resolve(schema)
        if not isinstance(s, dict):
            return [], False
        if "anyOf" in s and "type" not in s:
            branches: list[dict[str, Any]] = []
            nullable = False
            for b in s["anyOf"]:
                sub, n = self._branches(b)
                branches += sub
                nullable = nullable or n
            return branches, nullable
        t = s.get("type")
        if t == "null":
            return [], True
        if isinstance(t, list):
            rest = [x for x in t if x != "null"]
            return ([{**s, "type": rest[0] if len(rest) == 1 else rest}] if rest else []), "null" in t
        return [s], False

    def _coerce(self, schema: Any, value: Any, coerce: bool, path: list[Any], pre: list[dict[str, Any]]) -> Any:
        branches, nullable = self._branches(schema)
        if value is None and nullable:
            return None
        if len(branches) != 1:
            return value
        s = branches[0]
        t = s.get("type")
        if coerce and t == "boolean" and "enum" not in s and "const" not in s:
            return js_boolean(value)
        if coerce and t in ("number", "integer") and "enum" not in s and "const" not in s:
            number = js_number(value)
            if isinstance(number, float) and (math.isnan(number) or math.isinf(number)):
                pre.append(invalid_type_issue("number", number, path))
            return normalize_number(number)
        if value is ABSENT:
            return ABSENT
        if t == "array" and isinstance(value, list) and isinstance(s.get("items"), dict):
            return [self._coerce(s["items"], v, coerce, [*path, i], pre) for i, v in enumerate(value)]
        if t == "object" and isinstance(value, dict):
            return self._object(s, value, coerce, path, pre)
        return value

    def _object(self, schema: dict[str, Any], value: dict[str, Any], coerce: bool, path: list[Any],
                pre: list[dict[str, Any]]) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        out: dict[str, Any] = {}
        for name, prop in props.items():
            if name in value:
                out[name] = self._coerce(prop, value[name], coerce, [*path, name], pre)
                continue
            resolved = self.resolve(prop)
            if isinstance(resolved, dict) and "default" in resolved:
                out[name] = copy.deepcopy(resolved["default"])  # zod .default() short-circuits undefined
            elif name in required:
                coerced = self._coerce(prop, ABSENT, coerce, [*path, name], pre)
                if coerced is not ABSENT:
                    out[name] = coerced
        if "additionalProperties" in schema:
            # records ({} / typed) keep their keys; strict objects (false) keep them so they get rejected
            for key, item in value.items():
                if key not in props:
                    out[key] = item
        return out  # plain z.object: unknown keys are stripped

    # -- jsonschema error -> zod issue ---------------------------------------------------------

    def _missing_issue(self, op: Operation, name: str, prop: Any, path: list[Any]) -> dict[str, Any]:
        branches, nullable = self._branches(prop)
        if nullable or name in NONOPTIONAL_FIELDS.get(op.procedure, ()):
            return invalid_type_issue("nonoptional", ABSENT, path)
        if len(branches) == 1:
            b = branches[0]
            if "enum" in b:
                return invalid_value_issue(b["enum"], path)
            if "const" in b:
                return invalid_value_issue([b["const"]], path)
            t = b.get("type")
            expected = "number" if t == "integer" else t if isinstance(t, str) else "unknown"
            return invalid_type_issue(expected, ABSENT, path)
        return {"code": "invalid_union", "errors": [], "path": path, "message": "Invalid input"}

    def _issues(self, error: ValidationError, op: Operation) -> list[dict[str, Any]]:
        path = list(error.absolute_path)
        kw = error.validator
        schema = error.schema if isinstance(error.schema, dict) else {}
        inst = error.instance
        vv: Any = error.validator_value
        if kw == "required":
            if not isinstance(inst, dict):
                return []
            props = schema.get("properties") or {}
            return [self._missing_issue(op, n, props.get(n, {}), [*path, n]) for n in vv if n not in inst]
        if kw == "type":
            if "enum" in schema or "const" in schema:
                return []  # zod reports the enum/literal mismatch only
            expected = vv if isinstance(vv, str) else next((t for t in vv if t != "null"), "unknown")
            if expected == "integer":
                if isinstance(inst, (int, float)) and not isinstance(inst, bool):
                    issue = {"expected": "int", "format": "safeint", "code": "invalid_type", "path": path}
                    issue["message"] = "Invalid input: expected int, received number"
                    return [issue]
                expected = "number"
            return [invalid_type_issue(expected, inst, path)]
        if kw == "enum":
            return [invalid_value_issue(list(vv), path)]
        if kw == "const":
            return [invalid_value_issue([vv], path)]
        if kw in ("minLength", "maxLength", "minItems", "maxItems"):
            origin = "string" if kw.endswith("Length") else "array"
            unit = "characters" if origin == "string" else "items"
            small = kw.startswith("min")
            issue = {"origin": origin, "code": "too_small" if small else "too_big", ("minimum" if small else "maximum"): vv}
            issue["inclusive"] = True
            issue["path"] = path
            issue["message"] = f"Too {'small' if small else 'big'}: expected {origin} to have {'>=' if small else '<='}{vv} {unit}"
            if kw == "maxLength" and vv == ICON_MAX and path and path[-1] == "icon":
                issue["message"] = ICON_MESSAGE
            return [issue]
        if kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            small = "inimum" in kw
            inclusive = not kw.startswith("exclusive")
            op_sym = (">" if small else "<") + ("=" if inclusive else "")
            issue = {"origin": "number", "code": "too_small" if small else "too_big", ("minimum" if small else "maximum"): vv}
            issue["inclusive"] = inclusive
            issue["path"] = path
            issue["message"] = f"Too {'small' if small else 'big'}: expected number to be {op_sym}{js_number_to_string(vv)}"
            return [issue]
        if kw == "pattern":
            issue = {"origin": "string", "code": "invalid_format", "format": "regex", "pattern": f"/{vv}/", "path": path}
            custom = PATTERN_MESSAGES.get((vv, path[-1] if path else None))
            issue["message"] = custom or f"Invalid string: must match pattern /{vv}/"
            return [issue]
        if kw == "additionalProperties" and vv is False and isinstance(inst, dict):
            extra = [k for k in inst if k not in (schema.get("properties") or {})]
            noun = "key" if len(extra) == 1 else "keys"
            message = f"Unrecognized {noun}: " + ", ".join(json.dumps(k) for k in extra)
            return [{"code": "unrecognized_keys", "keys": extra, "path": path, "message": message}]
        if kw in ("anyOf", "oneOf"):
            return self._union_issues(error, op, path)
        return [{"code": "custom", "path": path, "message": error.message}]

    def _union_issues(self, error: ValidationError, op: Operation, path: list[Any]) -> list[dict[str, Any]]:
        alternatives = error.validator_value or []
        non_null = [i for i, b in enumerate(alternatives) if self._branches(b) != ([], True)]
        by_branch: dict[int, list[dict[str, Any]]] = {}
        for sub in error.context or []:
            idx = sub.relative_schema_path[0] if sub.relative_schema_path else -1
            by_branch.setdefault(int(idx), []).extend(self._issues(sub, op))
        if len(non_null) == 1:
            # zod `.nullable()`: the error is the inner schema's own error
            return by_branch.get(non_null[0], [])
        errors = [by_branch.get(i, []) for i in non_null]
        return [{"code": "invalid_union", "errors": errors, "path": path, "message": "Invalid input"}]


_INDEX: OpenApiIndex | None = None
_INDEX_LOCK = threading.Lock()


def get_index() -> OpenApiIndex:
    """The process-wide index (the 1.8 MB document is parsed once)."""
    global _INDEX
    with _INDEX_LOCK:
        if _INDEX is None:
            _INDEX = OpenApiIndex()
        return _INDEX
