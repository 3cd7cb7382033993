"""The stand-in's model of Dokploy's env handling (testkit/dokploy/envtext.py, core.dotenv.parse) against the real
pieces: npm dotenv 16.4.5 and shell-quote 1.8.3 (the versions Dokploy v0.30.2 pins) run by node, /bin/sh, and
docker compose reading the .env Dokploy writes. Every value ``core.dotenv`` accepts arrives exactly, in both modes."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from core.dotenv import encode, forms, parse, problem
from testkit.dokploy.envtext import EnvReferenceError, exports, for_file, prepare, shell_quote

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "testkit" / "dokploy" / "js"
ALPHABET = [*"ab '\"`$#\\=!{}:~\n\r\t", "\u2028", "\xa0", "é", "日本", "${", "${X}", "${{", "}}", "\\n", " #", "C:"]


def values(seed: int, n: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 8))) for _ in range(n)]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """node with the real packages, installed once into .tools/dokploy-js (npm registry)."""
    if not (shutil.which("node") and shutil.which("npm")):
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed to check the stand-in's env model against the real npm packages")
        pytest.skip("node/npm not found: the model is not checked against the real dotenv and shell-quote here")
    prefix = ROOT / ".tools" / "dokploy-js"
    if not (prefix / "node_modules" / "dotenv" / "package.json").is_file():  # what scripts/setup.sh installs
        subprocess.run(["bash", str(ROOT / "scripts" / "install-dokploy-js.sh")], check=True, capture_output=True, timeout=300)
    return prefix


def run_oracle(prefix: Path, request: dict[str, list[str]]) -> dict[str, list[object]]:
    env = {**os.environ, "NODE_PATH": str(prefix / "node_modules")}
    done = subprocess.run(["node", str(JS / "oracle.js")], input=json.dumps(request), capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_dotenv_model_parses_every_text_as_the_real_package(oracle: Path) -> None:
    texts = []
    for v in values(1, 2500):
        texts.append(f"K={v}\nB=1\n")  # anything a user could type in Dokploy's UI
        texts += [f"A='x'\nK={f}\nB='y'\nC=\"z\"\n" for f in forms(v)]
    real = run_oracle(oracle, {"parse": texts})["parse"]
    wrong = [(t, parse(t), r) for t, r in zip(texts, real, strict=True) if parse(t) != r or list(parse(t)) != list(r)]  # type: ignore[call-overload]
    assert not wrong[:5], f"{len(wrong)} of {len(texts)} texts parse differently"


def test_the_shell_quote_model_quotes_every_value_as_the_real_package(oracle: Path) -> None:
    vals = values(2, 5000)
    real = run_oracle(oracle, {"quote": vals})["quote"]
    wrong = [(v, shell_quote(v), r) for v, r in zip(vals, real, strict=True) if shell_quote(v) != r]
    assert not wrong[:5], f"{len(wrong)} of {len(vals)} values quote differently"


def accepted(seed: int, stack_mode: bool) -> dict[str, str]:
    return {f"V{i}": v for i, v in enumerate(values(seed, 300)) if problem(v, stack_mode) is None}


def test_compose_mode_every_accepted_value_reaches_compose_exactly(tmp_path: Path) -> None:
    """Dokploy's .env (parse, resolve, KEY="..." lines) read by the real docker compose."""
    sent = accepted(3, stack_mode=False)
    content = "APP_NAME=x\nCOMPOSE_PROJECT_NAME=x\n" + encode(sent) + "\nDOCKER_CONFIG=/root/.docker"
    (tmp_path / ".env").write_text("\n".join(for_file(prepare(content, "", ""))), encoding="utf-8")
    compose = {"services": {"s": {"image": "busybox", "environment": {k: f"${{{k}}}" for k in sent}}}}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(compose), encoding="utf-8")
    done = subprocess.run(["docker", "compose", "-p", "x", "-f", "docker-compose.yml", "config", "--format", "json"],
                          cwd=tmp_path, capture_output=True, text=True, check=True)  # fmt: skip
    got = json.loads(done.stdout)["services"]["s"]["environment"]
    wrong = {k: (v, got.get(k)) for k, v in sent.items() if (got.get(k) or "").replace("$$", "$") != v}  # config prints $ as $$
    assert not wrong
    assert len(sent) > 250


def test_stack_mode_every_accepted_value_reaches_the_command_exactly() -> None:
    """Dokploy's ``env -i ... KEY=<quote(value)> ...`` run by /bin/sh: what docker stack deploy's environment holds."""
    sent = accepted(4, stack_mode=True)
    command = f"env -i {exports(prepare(encode(sent), '', ''))} /usr/bin/env -0"
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, check=True)
    got = dict(item.decode().split("=", 1) for item in done.stdout.split(b"\0") if item)
    assert {k: v for k, v in sent.items() if v} == got  # empty values are left out; ${X} then reads "" all the same


def test_what_the_models_say_fails_does_fail() -> None:
    """The refusals are real: the old spelling gains a backslash, ! in shell-quote's double quotes keeps one."""
    assert prepare("K=\"it's \\$x\"\n", "", "") == [("K", "it's \\$x")]
    bang = exports([("K", "it's!")])
    done = subprocess.run(["/bin/sh", "-c", f"env -i {bang} /usr/bin/env"], capture_output=True, text=True, check=True)
    assert done.stdout == "K=it's\\!\n"
    with pytest.raises(EnvReferenceError, match=r"project\.DB"):
        prepare("K='${{project.DB}}'\n", "", "")
    assert prepare("K='${{project.DB}}'\n", "DB=x", "") == [("K", "x")]
