"""Run the Pulumi program through the real Pulumi engine (CLI) with the Automation API.

The program runs inline (the same `components.program.build` that `__main__.py` calls): the
engine talks to the Python SDK's own language server, so no separate `pulumi-language-python`
binary is needed (it is not served by the Go module proxy these machines reach). Everything else
is the real engine: planning, diffs, state on a file backend, secrets, plugins, dynamic providers.
"""

from __future__ import annotations

import functools
import os
import re
import secrets as pysecrets
import subprocess
from collections.abc import Callable
from pathlib import Path

from pulumi import automation as auto

PROJECT_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = PROJECT_DIR / ".state"
TOOLS_BIN = PROJECT_DIR / ".tools" / "pulumi" / "bin"
STANDINS_BIN = PROJECT_DIR / "testkit" / "bin"
VENV_PYTHON = PROJECT_DIR / "venv" / "bin" / "python"


def standins_enabled() -> bool:
    """Whether the engine uses testkit's stand-ins (the language host and provider plugins that cannot be
    installed here): BIZOSAAS_STANDINS=1, as `make demo` and the tests set it. Never on a user's machine."""
    flag = os.environ.get("BIZOSAAS_STANDINS") or os.environ.get("BIZOSAAS_DOCKER_STANDIN") or ""
    return flag.lower() in ("1", "true", "yes")


def engine_env(backend_dir: Path | None = None) -> dict[str, str]:
    """The environment the engine runs with: our pulumi (and the stand-ins, if enabled) first
    on PATH, a file backend under .state unless PULUMI_BACKEND_URL says otherwise."""
    backend_dir = backend_dir or STATE_DIR / "backend"
    first = [str(TOOLS_BIN)] + ([str(STANDINS_BIN)] if standins_enabled() else [])
    path = os.environ.get("PATH", "").split(os.pathsep)
    env = {
        "PATH": os.pathsep.join(first + [p for p in path if p not in first]),
        "PULUMI_HOME": os.environ.get("PULUMI_HOME", str(STATE_DIR / "pulumi-home")),
        "PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL") or backend_dir.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": passphrase(),
        "PULUMI_PYTHON_CMD": str(VENV_PYTHON),
        # dynamic providers are pickled by reference to components.*: the provider host imports them
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(p for p in [str(PROJECT_DIR), *os.environ.get("PYTHONPATH", "").split(":")] if p)),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    if env["PULUMI_BACKEND_URL"].startswith("file://"):
        Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    if standins_enabled():  # a missing plugin is an error here, never a download attempt
        env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    os.environ.update(env)  # the Automation API's own CLI calls read os.environ too
    return env


def passphrase() -> str:
    """PULUMI_CONFIG_PASSPHRASE, or a per-machine one generated once under .state (never committed)."""
    return os.environ.get("PULUMI_CONFIG_PASSPHRASE") or machine_secret("passphrase")


def machine_secret(name: str) -> str:
    """A per-machine random value kept under .state (mode 0600), generated once."""
    path = STATE_DIR / name
    if not path.exists():
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even for a moment
        with os.fdopen(fd, "w") as fh:
            fh.write(pysecrets.token_urlsafe(32))
    return path.read_text().strip()


def inline_program() -> None:
    """The program, exactly as __main__.py runs it (for `stack(..., program=inline_program)`)."""
    from components.program import main

    main()


def stack(name: str, program: Callable[[], None] | None = None, work_dir: Path = PROJECT_DIR) -> auto.Stack:
    """Select (or create) a stack on the configured backend.

    Without ``program`` the engine runs ``work_dir``'s Pulumi.yaml project as `pulumi up` does
    (its ``__main__.py`` through the Python language host): what a user runs. With ``program``,
    that function runs inline (the SDK's own language server), for small test projects.
    """
    env = engine_env()
    opts = auto.LocalWorkspaceOptions(work_dir=str(work_dir), pulumi_home=env["PULUMI_HOME"], env_vars=env, pulumi_command=cli())
    if program is None:
        return auto.create_or_select_stack(name, work_dir=str(work_dir), opts=opts)
    return auto.create_or_select_stack(name, project_name=_project_name(work_dir), program=program, opts=opts)


@functools.cache
def cli() -> auto.PulumiCommand:
    """The `pulumi` on PATH (``engine_env`` puts ours first), its version checked once per process: every workspace would
    run `pulumi version` again (one more engine process before each operation)."""
    engine_env()
    return auto.PulumiCommand()


def _project_name(work_dir: Path) -> str:
    text = (work_dir / "Pulumi.yaml").read_text() if (work_dir / "Pulumi.yaml").is_file() else ""
    match = re.search(r"^name:\s*(\S+)", text, re.MULTILINE)
    return match.group(1) if match else "bizosaas-deploy"


def set_secret(stack_name: str, key: str, value: str, *, path: bool = False, work_dir: Path = PROJECT_DIR) -> None:
    """`pulumi config set --secret` with the value on stdin, never on a command line (where `ps` would show it)."""
    env = engine_env()
    args = ["pulumi", "config", "set", "--secret", *(["--path"] if path else []), key, "--stack", stack_name, "--non-interactive"]
    run = subprocess.run(args, input=value, cwd=work_dir, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"pulumi config set {key} --stack {stack_name} failed: {run.stderr.strip()[-500:]}")
