"""The schemas (schemas/*.schema.json) and the code agree: every config key the program reads is in the stack schema
with its help text and kind, and every key of the schema is read; every level of the catalog and the stack's objects
lists the keys the code reads; the shipped catalog and stack files point editors at the schemas and validate.

When this fails, its message says what to add where (a new key is one KEYS entry plus one schema property).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from components.stack_config import KEYS, PROJECT
from core import catalog, placements, schema, swarm

ROOT = Path(__file__).resolve().parents[2]
STACK_SCHEMA = "schemas/stack.schema.json"
CONFIG = schema.load(schema.STACK)["properties"]["config"]
KIND_TYPES = {"text": "string", "number": "number", "bool": "boolean", "object": "object"}
READERS = {"get", "get_bool", "get_float", "get_int", "get_object", "get_secret", "get_secret_object", "get_secret_bool",
           "require", "require_secret", "require_object", "require_bool", "require_float", "require_int", "require_secret_object"}
"""pulumi.Config's readers (called on ``cfg``), and the helpers stack_config reads a key with (``text``, ``obj``, ...)."""
HELPERS = {"text", "obj", "_safe", "optional_object", "_seconds"}


def schema_entry(name: str) -> str:
    """The JSON a new key needs in the stack schema."""
    kind = KEYS[name].kind
    body: dict[str, Any] = {"description": KEYS[name].help}
    if kind in ("secret", "secrets"):
        body["anyOf"] = [{"$ref": "#/$defs/secure"}, {"type": "string", "minLength": 1}]
    else:
        body["type"] = KIND_TYPES[kind]
    return f'"{PROJECT}:{name}": {json.dumps(body)}'


def test_every_key_in_keys_is_in_the_stack_schema_with_its_help_and_kind() -> None:
    props = CONFIG["properties"]
    missing = [name for name in KEYS if f"{PROJECT}:{name}" not in props]
    assert not missing, (
        f"add to {STACK_SCHEMA} under properties.config.properties (with its range, enum or nested keys):\n"
        + "\n".join(schema_entry(n) for n in missing)
    )
    wrong_help = [n for n in KEYS if props[f"{PROJECT}:{n}"].get("description") != KEYS[n].help]
    assert not wrong_help, "\n".join(
        f'{STACK_SCHEMA}: "{PROJECT}:{n}".description should be the help text of KEYS["{n}"] in components/stack_config.py: '
        f"{json.dumps(KEYS[n].help)}" for n in wrong_help
    )
    for name, key in KEYS.items():
        node = props[f"{PROJECT}:{name}"]
        kinds = {node.get("type")} | {b.get("type") for b in node.get("anyOf") or []}
        refs = {b.get("$ref") for b in node.get("anyOf") or []}
        if key.kind in KIND_TYPES:
            assert KIND_TYPES[key.kind] in kinds or (key.kind == "text" and "string" in kinds), (
                f'{STACK_SCHEMA}: "{PROJECT}:{name}" should have "type": "{KIND_TYPES[key.kind]}" (KEYS says {key.kind})'
            )
        else:
            secure = '{"$ref": "#/$defs/secure"}'
            assert "#/$defs/secure" in refs, f'{STACK_SCHEMA}: "{PROJECT}:{name}" is a {key.kind}: it should accept {secure}'


def test_every_key_of_the_stack_schema_is_in_keys() -> None:
    extra = [k for k in CONFIG["properties"] if k.partition(":")[2] not in KEYS]
    assert not extra, "\n".join(
        f'{STACK_SCHEMA} has {k} but nothing declares it: add "{k.partition(":")[2]}": Key("<kind>", "<help: the same text as its '
        'description>") to KEYS in components/stack_config.py (and read it), or remove it from the schema' for k in extra
    )
    required = [k.partition(":")[2] for k in CONFIG["required"]]
    assert set(required) <= set(KEYS)


def keys_read_by_the_program() -> dict[str, list[str]]:
    """Every stack config key read in the product code: key -> where (``components/x.py:12``)."""
    found: dict[str, list[str]] = {}
    for folder in ("components", "deployctl", "core", "probes"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            for node in ast.walk(ast.parse(path.read_text())):
                for key in _read_keys(node):
                    found.setdefault(key, []).append(f"{rel}:{getattr(node, 'lineno', '?')}")
    return found


def _read_keys(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Call):
        func = node.func
        texts = [a.value for a in node.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if isinstance(func, ast.Attribute) and func.attr in READERS and isinstance(func.value, ast.Name) and func.value.id == "cfg":
            return texts[:1]
        if isinstance(func, ast.Name) and func.id in HELPERS:
            return texts[-1:]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(f"{PROJECT}:"):
        return [node.value.partition(":")[2]] if node.value.partition(":")[2].isidentifier() else []
    if isinstance(node, ast.JoinedStr) and len(node.values) == 2 and isinstance(node.values[1], ast.Constant):
        head, tail = node.values
        if isinstance(head, ast.FormattedValue) and isinstance(head.value, ast.Name) and head.value.id == "PROJECT":
            name = str(tail.value).removeprefix(":")
            return [name] if str(tail.value).startswith(":") and name.isidentifier() else []
    return []


def test_every_key_the_program_reads_is_declared_and_every_declared_key_is_read() -> None:
    read = keys_read_by_the_program()
    undeclared = {k: where for k, where in read.items() if k not in KEYS}
    assert not undeclared, "\n".join(
        f"{', '.join(where)} reads {PROJECT}:{k}: add it to KEYS in components/stack_config.py with its help text and to "
        f"{STACK_SCHEMA} (properties.config.properties) with that text as its description" for k, where in undeclared.items()
    )
    unread = [k for k in KEYS if k not in read]
    assert not unread, f"KEYS and {STACK_SCHEMA} declare {', '.join(unread)}, but no code reads them: read them or remove them from both"


def nested_keys(node: dict[str, Any]) -> set[str]:
    return set(node.get("properties") or {})


CATALOG_SCHEMA = schema.load(schema.CATALOG)
LEVELS = [
    ("core/catalog.py TOP_KEYS", catalog.TOP_KEYS, "schemas/catalog.schema.json#/properties", CATALOG_SCHEMA),
    ("core/catalog.py DEFAULT_KEYS", catalog.DEFAULT_KEYS, "schemas/catalog.schema.json#/properties/defaults/properties",
     CATALOG_SCHEMA["properties"]["defaults"]),
    ("core/catalog.py HEALTHCHECK_KEYS", catalog.HEALTHCHECK_KEYS,
     "schemas/catalog.schema.json#/properties/defaults/properties/healthcheck/properties",
     CATALOG_SCHEMA["properties"]["defaults"]["properties"]["healthcheck"]),
    ("core/catalog.py SERVICE_KEYS", catalog.SERVICE_KEYS, "schemas/catalog.schema.json#/$defs/service/properties",
     CATALOG_SCHEMA["$defs"]["service"]),
    ("core/catalog.py OVERRIDE_KEYS", catalog.OVERRIDE_KEYS,
     f"{STACK_SCHEMA}#/properties/config/properties/{PROJECT}:services/additionalProperties/properties",
     CONFIG["properties"][f"{PROJECT}:services"]["additionalProperties"]),
    ("core/placements.py PROJECT_KEYS", placements.PROJECT_KEYS,
     f"{STACK_SCHEMA}#/properties/config/properties/{PROJECT}:composeProjects/additionalProperties/properties",
     CONFIG["properties"][f"{PROJECT}:composeProjects"]["additionalProperties"]),
]


@pytest.mark.parametrize(("code", "keys", "where", "node"), LEVELS, ids=[level[0] for level in LEVELS])
def test_each_level_of_the_documents_lists_the_keys_the_code_reads(code: str, keys: set[str], where: str, node: dict[str, Any]) -> None:
    in_schema = nested_keys(node)
    assert in_schema == set(keys), (
        f"add to {where}: {sorted(set(keys) - in_schema)} (read by the code); "
        f"add to {code} (and read them): {sorted(in_schema - set(keys))}"
    )


def test_the_deploy_keys_swarm_passes_on_are_the_schemas() -> None:
    def walk(code: dict[str, Any], node: dict[str, Any], path: str) -> list[str]:
        props = node.get("properties") or {}
        out = [f"{path}/{k}: in swarm.DEPLOY_KEYS, not in the schema" for k in code if k not in props]
        out += [f"{path}/{k}: in the schema, not in swarm.DEPLOY_KEYS" for k in props if k not in code]
        for key, sub in code.items():
            if isinstance(sub, dict) and key in props:
                out += walk(sub, props[key], f"{path}/{key}")
        return out

    problems = walk(swarm.DEPLOY_KEYS, CATALOG_SCHEMA["$defs"]["deploy"], "schemas/catalog.schema.json#/$defs/deploy")
    assert problems == [], "\n".join(problems)


SHIPPED = [("catalog.yaml", "schemas/catalog.schema.json")]
SHIPPED += [(p, "schemas/stack.schema.json") for p in ("Pulumi.staging.yaml", "Pulumi.prod.yaml")]
SHIPPED += [(f"stacks/{p.name}", "../schemas/stack.schema.json") for p in sorted((ROOT / "stacks").glob("*.yaml"))]


@pytest.mark.parametrize(("path", "ref"), SHIPPED, ids=[s[0] for s in SHIPPED])
def test_shipped_files_point_editors_at_their_schema_and_validate(path: str, ref: str) -> None:
    text = (ROOT / path).read_text()
    line = f"# yaml-language-server: $schema={ref}"
    assert line in text.splitlines()[:3], f"{path}: its first lines should have `{line}` (VS Code, JetBrains read it)"
    target = ((ROOT / path).parent / ref).resolve()
    assert target.is_file(), f"{path} points at {ref}, which does not exist"
    registry: Registry[Any] = Registry().with_resources(
        (p.resolve().as_uri(), Resource.from_contents({**json.loads(p.read_text()), "$id": p.resolve().as_uri()}))
        for p in (ROOT / "schemas").glob("*.json")
    )
    validator = Draft202012Validator({"$ref": target.as_uri()}, registry=registry, format_checker=FormatChecker())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(yaml.safe_load(text))]
    assert errors == [], f"{path} does not validate against {ref}:\n" + "\n".join(errors)


def test_the_schemas_are_valid_draft_2020_12_documents() -> None:
    for path in sorted((ROOT / "schemas").glob("*.json")):
        document = json.loads(path.read_text())
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema", path
        Draft202012Validator.check_schema(document)
