"""components/ uses the Pulumi SDK's public API only; the one private name it needs is checked here, loudly.

A private name (``req.config._props``, a raw gRPC ``Log`` call to an engine address parsed from ``sys.argv``) can
change in any SDK release without notice. The scan below fails on any such use; the SDK version each exception was
checked against is in the comment where it is used.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pulumi
import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from components import provider_support, stack_config

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_MODULES = ("grpc", "pulumi.runtime.proto", "pulumi.runtime._", "pulumi._", "pulumi.dynamic.__main__")
INTERNAL_NAMES = {"CONFIG"}
"""SDK names without an underscore that are internal all the same (pulumi.runtime.config.CONFIG: not in ``__all__``)."""
ALLOWED_PRIVATE = {("components/stack_config.py", "CONFIG"), ("components/host_errors.py", "_abort_with_traceback")}
"""(module, name): where the SDK has no public way (see the function's or module's comment, with the SDK version); CONFIG
is tested below, the provider host's ``_abort_with_traceback`` by tests/components/test_provider_host.py (the real host
over gRPC)."""


def private_uses(path: Path, rel: str | None = None) -> list[str]:
    """Each private SDK access in one module: imports of the SDK's internals, ``x._name`` on anything but self/cls,
    ``getattr(x, "_name")``, ``sys.argv``, and a name of ``pulumi.runtime.config`` outside pulumi.runtime's ``__all__``.
    ``rel``: the module's path in the project (default: ``path``'s)."""
    rel = rel or str(path.relative_to(ROOT))
    tree = ast.parse(path.read_text(), filename=rel)
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{where}: imports {n}" for n in names if n.startswith(FORBIDDEN_MODULES)]
            if isinstance(node, ast.ImportFrom) and node.module == "pulumi.runtime.config":
                found += [f"{where}: imports pulumi.runtime.config.{a.name}" for a in node.names if a.name not in pulumi.runtime.__all__]
        elif isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else ""
            private = node.attr.startswith("_") and not node.attr.startswith("__") and owner not in ("self", "cls")
            if private or (owner == "sys" and node.attr == "argv"):
                found.append(f"{where}: .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            on_self = bool(node.args) and isinstance(node.args[0], ast.Name) and node.args[0].id in ("self", "cls")
            args = [] if on_self else node.args[1:2]
            if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                name = args[0].value
                internal = (name.startswith("_") and not name.startswith("__")) or name in INTERNAL_NAMES
                if internal and (rel, name) not in ALLOWED_PRIVATE:
                    found.append(f"{where}: getattr {name!r}")
    return found


def test_components_use_no_private_sdk_names() -> None:
    found = [use for path in sorted((ROOT / "components").glob("*.py")) for use in private_uses(path)]
    assert found == [], "private Pulumi SDK access (use the public API, or comment + test it like all_config):\n" + "\n".join(found)


def test_the_scan_finds_what_the_old_providers_did(tmp_path: Path) -> None:
    """The scan is not blind: the two private accesses issue 26 removed are found. (The module is written outside the
    project: a copy of the project made at the same time by another test, under pytest-xdist, must not see it.)"""
    old = tmp_path / "_old_provider_for_scan.py"
    old.write_text(
        "import sys\nfrom pulumi.runtime.proto import engine_pb2\n"
        "def configure(req):\n    return dict(getattr(req.config, '_props', {}))\n"
        "def address():\n    return sys.argv[1]\n"
        "def props(req):\n    return req.config._props\n"
    )
    found = private_uses(old, rel="components/_old_provider_for_scan.py")
    assert sorted(f.split(": ", 1)[1] for f in found) == sorted([".argv", "._props", "getattr '_props'", "imports pulumi.runtime.proto"])


def test_all_config_still_reads_the_whole_config_map_of_this_sdk() -> None:
    """pulumi.runtime.config.CONFIG (checked with 3.272) is what all_config lists; if a new SDK renames or drops it, this fails."""
    assert hasattr(pulumi.runtime.config, "CONFIG"), (
        "this pulumi SDK has no pulumi.runtime.config.CONFIG: "
        "components/stack_config.py all_config() must find another way to list the stack's config keys"
    )
    pulumi.runtime.set_all_config({"bizosaas-deploy:registry": "r", "other:key": "v"}, ["other:key"])
    assert stack_config.all_config() == {"bizosaas-deploy:registry": "r", "other:key": "v"}
    assert pulumi.runtime.is_config_secret("other:key") and not pulumi.runtime.is_config_secret("bizosaas-deploy:registry")


@pytest.mark.parametrize("key", provider_support.API_KEY_CONFIG_KEYS)
def test_providers_read_the_api_key_through_the_public_config(key: str) -> None:
    provider = provider_support.DokployProviderBase()
    provider.configure(ConfigureRequest(Config({key: "the-key", "bizosaas-deploy:other": "x"}, "project")))
    assert provider._configured_key == "the-key"
    unconfigured = provider_support.DokployProviderBase()
    unconfigured.configure(ConfigureRequest(Config({"elsewhere:dokployApiKey": "no"}, "project")))
    assert unconfigured._configured_key is None
