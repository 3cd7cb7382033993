"""The stand-in language host (testkit/bin/pulumi-language-python) runs a program with the standard CLI and reports a program error
(pulumi.RunError) once, as the real host does: never a second time behind "Exception calling application"."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from deployctl import engine

PROGRAM = '''import pulumi


async def finished() -> bool:
    raise pulumi.RunError("this update did not finish: see the errors above")


pulumi.export("done", pulumi.Output.all(pulumi.Output.from_input(finished()), 1).apply(lambda both: both[1]))
'''


def test_a_run_error_of_an_awaited_output_is_reported_once(tmp_path: Path) -> None:
    """What program.py's _finished does when a compose project failed: the outputs wait on an awaitable that raises."""
    work = tmp_path / "runerr"
    work.mkdir()
    (work / "Pulumi.yaml").write_text("name: runerr\nruntime:\n  name: python\n")
    (work / "__main__.py").write_text(PROGRAM)
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(engine.STANDINS_BIN), str(engine.TOOLS_BIN), os.environ.get("PATH", "")]),
        "PULUMI_BACKEND_URL": (tmp_path / "backend").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": "test",
        "PULUMI_HOME": str(tmp_path / "home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_PYTHON_CMD": str(engine.VENV_PYTHON),
    }
    (tmp_path / "backend").mkdir()

    def pulumi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pulumi", *args], cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)

    assert pulumi("stack", "init", "t").returncode == 0
    out = pulumi("up", "--yes", "--stack", "t", "--color", "never")
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "Exception calling application" not in text, text
    diagnostics = text.split("Diagnostics:", 1)[1]
    assert diagnostics.count("error: this update did not finish: see the errors above") == 1, text
