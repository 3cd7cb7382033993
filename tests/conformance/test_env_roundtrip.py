"""Secret values byte for byte: what the program sets reaches the containers exactly, in compose and in stack mode.

Through the real engine: one compose project per mode, its env text rendered by ``core.dotenv`` from generated values
(quotes of every kind, ``$``, ``${...}``, backslashes, ``#``, spaces at both ends, line breaks, unicode, ``=``), then
each container's environment read back through Dokploy's own API (``docker.getContainersByAppNameMatch``,
``docker.getConfig``: the ``docker inspect`` object) and compared exactly. The values ``core.dotenv`` refuses (no
spelling Dokploy's parser reads back, ``${{...}}`` that Dokploy substitutes, stack mode's shell quoting) are named
and not deployed: the program stops before anything is pushed, naming the stack and the key.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from components.compose_project import ComposeProject, ComposeProjectArgs
from components.dokploy_project import DokployProject, DokployProjectArgs
from core.dotenv import encode, problem
from tests.conformance.conftest import InlineStack, Target, inline_stack

pytestmark = pytest.mark.engine

NAMED = {
    "SINGLE_QUOTE": "it's",
    "DOUBLE_QUOTE": 'say "hi"',
    "BACKTICK": "`uname`",
    "QUOTE_AND_DOLLAR": "it's $x",  # the value: it gained a backslash in both modes
    "EVERY_QUOTE": "a'b\"c`d",
    "DOLLARS": "pa$word $$ $1 $",
    "BRACES": "${HOME} ${X:-y} ${",
    "PROJECT_REF": "${{project.X}}",
    "BACKSLASHES": "back\\slash \\n \\t \\\\",
    "ENDS_IN_BACKSLASH": "x\\",
    "HASH": "#not a comment # x",
    "SPACES": "  both ends  ",
    "NEWLINES": "line1\nline2\n",
    "CRLF": "a\r\nb",
    "UNICODE": "é 日本 ✓ \u2028 \xa0",
    "EQUALS": "k=v==",
    "BANG": "it's done!",
    "TILDE": "~/x",
    "GO_TEMPLATE": "{{.Node.Hostname}}",
    "EMPTY": "",
}
ALPHABET = [*"ab '\"`$#\\=!{}:~\n\t", "é", "${X}", "${{", "}}", "\\n"]
SERVICE = "env"


def generated(seed: int, n: int) -> dict[str, str]:
    rnd = random.Random(seed)
    return {f"GEN_{i}": "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 12))) for i in range(n)}


ALL = {**NAMED, **generated(22, 24)}


def accepted(stack_mode: bool) -> dict[str, str]:
    return {k: v for k, v in ALL.items() if problem(v, stack_mode) is None}


def compose_text(target: Target, stack_mode: bool, names: list[str]) -> str:
    env = "".join(f"      {k}: ${{{k}}}\n" for k in names)
    name = "" if stack_mode else f"    container_name: conformance-{target.run}-env\n"
    return (f"services:\n  {SERVICE}:\n    image: {target.image}\n{name}    environment:\n{env}"
            "    networks: [dokploy-network]\nnetworks:\n  dokploy-network:\n    external: true\n")  # fmt: skip


class RoundTrip(InlineStack):
    kind = "env"

    def program(self) -> None:
        t = self.target
        project = DokployProject("project", DokployProjectArgs(t.url, t.project_name, allow_insecure_http=t.standin is not None))
        for name, stack_mode in (("envcompose", False), ("envstack", True)):
            values = accepted(stack_mode)
            compose = ComposeProject(
                name,
                ComposeProjectArgs(
                    dokploy_url=t.url, project_name=t.project_name, environment_name="production", project_id=project.project_id,
                    environment_id=project.environment_id, compose_name=name, compose_file=compose_text(t, stack_mode, sorted(values)),
                    env=pulumi.Output.secret(encode(values)), services={SERVICE: {"image": t.image}}, health_urls={},
                    compose_type="stack" if stack_mode else "docker-compose", deploy_timeout=240.0, poll_interval=0.5,
                    health_timeout=60.0, stability_window=1.0, allow_insecure_http=t.standin is not None,
                ),
            )  # fmt: skip
            pulumi.export(f"id_{name}", compose.compose_id)

    def environment(self, compose_id: str, app_type: str) -> dict[str, str]:
        """The container's environment as Dokploy's API shows it (docker inspect's Config.Env)."""
        return dict(item.split("=", 1) for item in self.inspect(compose_id, app_type)["Config"]["Env"])


@pytest.fixture(scope="module")
def roundtrip(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoundTrip]:
    with inline_stack(RoundTrip, target, tmp_path_factory) as trip:
        yield trip


def test_secret_values_reach_the_containers_byte_for_byte_in_compose_and_stack_mode(roundtrip: RoundTrip) -> None:
    result = roundtrip.stack.up(color="never")
    table: list[tuple[str, str, str]] = []
    wrong: dict[str, Any] = {}
    for name, stack_mode in (("envcompose", False), ("envstack", True)):
        seen = roundtrip.environment(result.outputs[f"id_{name}"].value, "stack" if stack_mode else "docker-compose")
        for key, value in ALL.items():
            why = problem(value, stack_mode)
            if why is None and seen.get(key, "") != value:  # docker drops nothing: an unset variable reads ""
                wrong[f"{name}/{key}"] = (value, seen.get(key))
            outcome = "exact" if why is None and seen.get(key, "") == value else (f"refused: {why}" if why else "DIFFERS")
            table.append((name, key, outcome))
    print("\n".join(f"{mode:<10} {key:<18} {outcome}" for mode, key, outcome in table))
    assert not wrong
    compose_ok = sum(1 for m, _, o in table if m == "envcompose" and o == "exact")
    stack_ok = sum(1 for m, _, o in table if m == "envstack" and o == "exact")
    print(f"compose mode: {compose_ok} of {len(ALL)} values exact; stack mode: {stack_ok} of {len(ALL)} values exact; the rest refused")
    refused = {k for k in NAMED if problem(NAMED[k], True)}
    assert refused == {"PROJECT_REF", "BANG", "TILDE", "GO_TEMPLATE"}  # compose mode refuses only the first
    assert {k for k in NAMED if problem(NAMED[k], False)} == {"PROJECT_REF"}
