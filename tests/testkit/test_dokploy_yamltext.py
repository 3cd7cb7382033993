"""The stand-in re-serialises every compose file it deploys as Dokploy v0.30.2 does: with npm yaml 2.8.1 itself (node),
or, without node, a Python model checked here against the real package.

A deploy runs the written-back file, not ours: a value quoted in our text that yaml 2.8.1 writes unquoted reaches the
container as docker compose then reads it (``'1_000'`` as 1000), and a date stops the deploy with docker compose's error.
"""

from __future__ import annotations

import math
import random
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import reserialise
from core.catalog import resolve
from core.compose import render_compose
from dokploy_api import DokployClient
from testkit import images
from testkit.dokploy import FakeDokploy, yamljs, yamltext
from testkit.dokploy.domains import converted
from tests.catalog_helpers import fake_digest, raw_catalog, settings
from tests.reserialise_helpers import compose_config, dokploy_js, env_document

__all__ = ["dokploy_js"]
pytestmark = pytest.mark.usefixtures("dokploy_js")
SCALARS = [
    "on", "y", "True", "true", "~", "null", "", "08", "0777", "0o17", "0x1F", "0X1F", "1_000", "1e3", "-.5", ".inf", "-.Inf",
    ".nan", "+1", "-0", "12345678901234567890", "8001:8001", "2024-01-01", "1.5", "1.", "<<", "*x", "a: b", "a #b", "$$x",
    "Host(`x`)", "é", "日本", "x\ny", "it's", 'say "hi"', "\\", "word " * 250,
]  # fmt: skip


def texts() -> dict[str, str]:
    """Our compose files: the shipped catalog in both modes, and one of hostile values."""
    out = {"hostile": reserialise.dump(env_document(SCALARS))}
    for mode in ("compose", "stack"):
        projects = {g: {"mode": mode} for g in ("backend", "frontend")} if mode == "stack" else {}
        catalog = resolve(raw_catalog(), settings(projects=projects))
        digests = {name: fake_digest(name) for name in catalog.services}
        out.update({f"{group} ({mode} mode)": render_compose(catalog, group, digests) for group in catalog.group_names})
    return out


def test_the_stand_in_writes_each_compose_file_back_as_npm_yaml_does_byte_for_byte() -> None:
    assert yamltext.engine() == f"npm yaml {yamljs.VERSION} (node)" and yamljs.version() == "2.8.1"
    key = secrets.token_hex(16)
    with FakeDokploy(api_keys={key}, latency=0) as srv, DokployClient(srv.base_url, key, allow_insecure_http=True) as client:
        env_id = client.project.create("yamltext")["environment"]["environmentId"]
        for name, text in texts().items():
            real = yamljs.stringify(yamljs.parse(text))
            assert converted({"appName": "app", "composeType": "docker-compose", "composeFile": text}, []) == real, name
            compose = client.compose.create(name.split()[0], env_id, source_type="raw", compose_file=text)
            assert client.query("compose.getConvertedCompose", composeId=compose["composeId"]) == real, name


def test_the_python_model_reads_and_writes_as_npm_yaml_does_but_for_what_it_says() -> None:
    """The fallback without node: the same data from every text the program writes and the model writes back, the same
    meaning to docker compose from every value but the kinds its docstring lists (characters yaml 2.8.1 writes raw, block
    scalars; core.reserialise refuses both)."""
    rnd = random.Random(7)
    alphabet = [*"0123456789+-._eExXoO: #'\"\\$`*&!%@~\n\t", "on", "null", "é", "2024-", "01-01"]
    values = list(dict.fromkeys(SCALARS + ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 10))) for _ in range(400)]))
    docs = [reserialise.dump({"k": v}) for v in values]  # what the program sends
    docs += [yamltext.model_stringify({"k": v}) for v in values]  # what the model writes back (the simulation reads it)
    for doc in docs:
        assert numbers_as_js(yamltext.model_parse(doc)) == numbers_as_js(yamljs.parse(doc)), doc
    gaps = ("holds U+", "block scalar")
    kept = [v for v in values if not any(gap in (reserialise.problem(v) or "") for gap in (*gaps, "stops the deploy"))]
    data = env_document(kept)
    model, real_text = compose_config(yamltext.model_stringify(data)), compose_config(yamljs.stringify(data))
    assert model is not None and model == real_text
    assert len(kept) > 300


def numbers_as_js(value: Any) -> Any:
    """JavaScript has one number type, a double: 1.0 is 1, 12345678901234567890 is 12345678901234567168 (printed
    ...000); NaN as text, so that it equals itself."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        value = float(value)
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {k: numbers_as_js(v) for k, v in value.items()}
    return [numbers_as_js(v) for v in value] if isinstance(value, list) else value


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    tag = f"bizosaas-test/yamltext:{secrets.token_hex(4)}"
    images.build_image(tag, "yamltext", 8080, "/health", variant=secrets.token_hex(4))
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


def test_a_deploy_runs_the_written_back_file(tmp_path: Path, image: str) -> None:
    """Our text quotes '1_000'; Dokploy writes it unquoted and docker compose reads 1000. A date stops the deploy."""
    key = secrets.token_hex(16)
    values = {"GO_NUMBER": "1_000", "YAML11_BOOL": "on", "YAML12_INT": "08", "DOLLARS": "$$x", "LINES": "a\nb", "UNICODE": "é 🎉"}
    apps: list[str] = []
    with FakeDokploy(api_keys={key}, docker=True, work_dir=tmp_path / "dokploy", latency=0, deploy_start_delay=0) as srv, \
            DokployClient(srv.base_url, key, allow_insecure_http=True) as client:  # fmt: skip
        env_id = client.project.create("yamltext")["environment"]["environmentId"]
        try:
            outcome = {}
            for name, extra in (("kept", {}), ("date", {"RELEASED": "2024-01-01"})):
                text = reserialise.dump({"services": {"s": {"image": image, "environment": {**values, **extra}}}})
                compose = client.compose.create(name, env_id, compose_file=text)
                apps.append(compose["appName"])
                client.compose.deploy(compose["composeId"])
                deadline = time.monotonic() + 60
                while (status := client.compose.one(compose["composeId"])["composeStatus"]) not in ("done", "error"):
                    assert time.monotonic() < deadline, f"{name}: still {status}"
                    time.sleep(0.2)
                [last, *_] = client.deployment.all_by_compose(compose["composeId"])
                outcome[name] = (status, client.deployment.read_logs(last["deploymentId"]), compose["appName"])
            status, log, app = outcome["date"]
            assert status == "error" and "services.s.environment.RELEASED invalid jsonType time.Time" in log
            status, log, app = outcome["kept"]
            assert status == "done", log
            [row] = client.docker.containers_by_app_name_match(app, "docker-compose")
            env = dict(e.split("=", 1) for e in (client.docker.config(row["containerId"]) or {})["Config"]["Env"])
            assert {k: env[k] for k in values} == {**values, "GO_NUMBER": "1000", "DOLLARS": "$x"}
        finally:
            for app in apps:
                subprocess.run(["docker", "compose", "-p", app, "down", "--volumes", "--remove-orphans"], capture_output=True, check=False)
