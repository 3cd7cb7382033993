"""What the Dokploy v0.30.2 STAND-IN does with a compose's env text, as Dokploy does it.

Dokploy (``packages/server/src/utils/docker/utils.ts``, ``utils/builders/compose.ts``):

1. ``prepareEnvironmentVariables``: parse the text with npm ``dotenv`` 16.4.5 (``core.dotenv.parse`` is
   a model of it, checked against the real package by ``tests/testkit/test_dokploy_envtext.py``), then
   in every value replace ``${{project.X}}``, ``${{environment.X}}`` (from the project's and the
   environment's env) and ``${{X}}`` (another variable of this env, as parsed); an unknown reference
   fails the deploy.
2. compose mode (``prepareEnvironmentVariablesForFile``): each pair written again as ``KEY="..."``
   with ``\\``, ``"`` and ``$`` backslash-escaped and line breaks left raw, into the ``.env`` docker
   compose reads (compose's own parser is real here: the stand-in runs docker compose).
3. stack mode (``getExportEnvCommand``): ``KEY=<quote(value)>`` for every pair with a non-empty value,
   with npm ``shell-quote`` 1.8.3's ``quote`` (modelled by ``shell_quote``), on the command line
   ``env -i PATH="$PATH" HOME="$HOME" <exports> docker stack deploy ...`` that ``/bin/sh -c`` runs
   (the stand-in runs that shell for real). The ``.env`` a stack deploy writes holds the pairs raw
   (``KEY=value``): docker stack deploy does not read it.
"""

from __future__ import annotations

import re

from core.dotenv import parse

_SCOPED = {scope: re.compile(r"\$\{\{" + scope + r"\.([^\n\r\u2028\u2029]*?)\}\}") for scope in ("project", "environment")}
_SELF = re.compile(r"\$\{\{([^\n\r\u2028\u2029]*?)\}\}")


class EnvReferenceError(Exception):
    """An env value references a project/environment/service variable that does not exist (Dokploy's message)."""


def prepare(env: str | None, project_env: str | None, environment_env: str | None) -> list[tuple[str, str]]:
    """``prepareEnvironmentVariables``: the parsed pairs, references replaced (in the order Dokploy replaces them)."""
    scopes = {"project": parse(project_env or ""), "environment": parse(environment_env or "")}
    own = parse(env or "")

    def lookup(table: dict[str, str], message: str) -> object:
        def repl(m: re.Match[str]) -> str:
            if m.group(1) not in table:
                raise EnvReferenceError(message + m.group(1))
            return table[m.group(1)]

        return repl

    pairs = []
    for key, value in own.items():
        value = _SCOPED["project"].sub(lookup(scopes["project"], "Invalid project environment variable: project."), value)  # type: ignore[arg-type]
        value = _SCOPED["environment"].sub(lookup(scopes["environment"], "Invalid environment variable: environment."), value)  # type: ignore[arg-type]
        value = _SELF.sub(lookup(own, "Invalid service environment variable: "), value)  # type: ignore[arg-type]
        pairs.append((key, value))
    return pairs


def for_file(pairs: list[tuple[str, str]]) -> list[str]:
    """``prepareEnvironmentVariablesForFile``: ``KEY="<value, \\ " $ escaped>"`` (compose mode's .env lines)."""
    return [f'{k}="' + v.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"' for k, v in pairs]


def raw_lines(pairs: list[tuple[str, str]]) -> list[str]:
    """``prepareEnvironmentVariables`` joined as they are (stack mode's .env lines)."""
    return [f"{k}={v}" for k, v in pairs]


_JS_SPACE = re.compile(r"[\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]")


def shell_quote(value: str) -> str:
    """npm shell-quote 1.8.3's ``quote([value])`` for one string (its three cases, by what the value holds)."""
    if value == "":
        return "''"
    if (re.search(r'["\\]', value) or _JS_SPACE.search(value)) and "'" not in value:
        return f"'{value}'"
    if "'" in value or '"' in value or _JS_SPACE.search(value):
        return '"' + re.sub(r'(["\\$`!])', r"\\\1", value) + '"'
    return re.sub(r"([A-Za-z]:)?([#!\"$&'()*,:;<=>?@\[\\\]^`{|}])", r"\1\\\2", value)


def exports(pairs: list[tuple[str, str]]) -> str:
    """``getExportEnvCommand``: ``KEY=<quoted value>`` words, pairs with an empty value left out."""
    return " ".join(f"{k}={shell_quote(v)}" for k, v in pairs if k and v)
