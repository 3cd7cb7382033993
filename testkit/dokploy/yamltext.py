"""How the Dokploy v0.30.2 STAND-IN reads and writes a compose file: as Dokploy does, with npm yaml 2.8.1.

Dokploy parses every compose file it deploys and writes the data back (``addDomainToCompose``: ``parse(text,
{maxAliasCount: 10000})``; ``writeDomainsToCompose`` and ``compose.getConvertedCompose``: ``stringify(value, {lineWidth:
1000})``), so what docker compose reads is yaml 2.8.1's text (what that changes: ``core/reserialise.py``). The stand-in
does the same with the real package (``yamljs``: node and ``.tools/dokploy-js``, installed by ``scripts/setup.sh``).
Where node or the package is missing it falls back to a Python model (``engine()`` says which): YAML 1.2 core schema both
ways, so text YAML 1.2 reads as text is written unquoted as yaml 2.8.1 writes it (``on``, ``1_000``, ``2024-01-01``) and
``08``, ``1e3``, ``0o17`` as numbers. The model's known differences (tests/testkit/test_dokploy_yamltext.py checks the
rest against the real package): it escapes U+0085, U+2028, U+2029, U+007F-U+009F, U+FFFE and U+FFFF where yaml 2.8.1
writes them as they are, writes values of several lines quoted where yaml 2.8.1 writes block scalars (``|-``), accepts
duplicate keys (yaml 2.8.1 throws "Map keys must be unique"), keeps aliases expanded, and reads some hand-spelt texts
otherwise (a tab after ``key: ``, a lone ``!`` tag, a tab inside an unquoted value, which yaml 2.8.1 writes); it reads
what the program writes and what the model writes as yaml 2.8.1 does.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import yaml

from testkit.dokploy import yamljs

_CORE_SCHEMA = (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
)  # fmt: skip


class ParseError(Exception):
    """What yaml's parse threw (its message: Dokploy's deploy log says it)."""


class Yaml12Loader(yaml.SafeLoader):
    """Reads compose files as Dokploy's ``yaml`` package does (YAML 1.2 core schema): ``8080:80`` and ``on`` stay text,
    where PyYAML's YAML 1.1 would read a base-60 number and a boolean (and write them back as such); ``0777`` is 777."""


class Yaml12Dumper(yaml.SafeDumper):
    """Writes as yaml 2.8.1's ``stringify`` decides quoting: a string is quoted when YAML 1.2 would read it otherwise."""


for _cls in (Yaml12Loader, Yaml12Dumper):
    _cls.yaml_implicit_resolvers = {}
    for _tag, _pattern, _first in _CORE_SCHEMA:
        _cls.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def _int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """A YAML 1.2 integer (0777 is decimal), kept as a JavaScript number is: a double."""
    text = str(loader.construct_scalar(node))
    value = int(text[2:], 16 if text[1] == "x" else 8) if text[:2] in ("0x", "0o") else int(text, 10)
    return value if abs(value) <= 2**53 else int(float(value))


def _float(dumper: yaml.SafeDumper, value: float) -> yaml.ScalarNode:
    """A number as JavaScript writes it (yaml's stringifyNumber): 1000 for 1000.0, .inf, .nan."""
    if math.isnan(value):
        text = ".nan"
    elif math.isinf(value):
        text = ".inf" if value > 0 else "-.inf"
    else:
        text = str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return dumper.represent_scalar("tag:yaml.org,2002:int" if text.lstrip("-").isdigit() else "tag:yaml.org,2002:float", text)


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _int)
Yaml12Dumper.add_representer(float, _float)

@functools.cache
def _real() -> bool:
    """Whether this process runs the real package (decided at the first use, then kept)."""
    return yamljs.available()


def engine() -> str:
    """Which one this process uses."""
    return f"npm yaml {yamljs.VERSION} (node)" if _real() else f"a Python model of npm yaml {yamljs.VERSION}"


def parse(text: str) -> Any:
    """``parse(text, {maxAliasCount: 10000})``: the document as data (None when empty); ParseError when yaml throws."""
    if _real():
        try:
            return yamljs.parse(text)
        except yamljs.YamlJsError as exc:
            raise ParseError(str(exc)) from None
    try:
        return yaml.load(text, Loader=Yaml12Loader)
    except yaml.YAMLError as exc:
        raise ParseError(str(exc)) from None


def stringify(value: Any) -> str:
    """``stringify(value, {lineWidth: 1000})``."""
    if _real():
        return yamljs.stringify(value)
    return model_stringify(value)


def model_stringify(value: Any) -> str:
    """The model's ``stringify``."""
    return yaml.dump(value, Dumper=Yaml12Dumper, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)


def model_parse(text: str) -> Any:
    """The model's ``parse``."""
    return yaml.load(text, Loader=Yaml12Loader)
