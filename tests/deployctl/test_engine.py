"""deployctl.engine: machine secrets never readable by others, stack secrets never on a command line."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deployctl import engine


def test_a_machine_secret_is_created_readable_by_its_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)  # a mode fixed afterwards would be too late
    value = engine.machine_secret("passphrase")
    mode = stat.S_IMODE((tmp_path / "state" / "passphrase").stat().st_mode)
    assert mode == 0o600 and len(value) >= 32
    assert engine.machine_secret("passphrase") == value


def test_set_secret_passes_the_value_on_stdin_never_in_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        calls.append({"args": args, **kw})
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(engine.subprocess, "run", fake_run)
    engine.set_secret("local", "bizosaas-deploy:secrets.JWT_SECRET", "0xDEADBEEF-value", path=True)
    [call] = calls
    assert "0xDEADBEEF-value" not in " ".join(call["args"]) and call["input"] == "0xDEADBEEF-value"
    assert call["args"][:5] == ["pulumi", "config", "set", "--secret", "--path"]
