"""testkit/dokploy/launch.py: the stand-in started in the background is remembered, found again and stopped; never another process."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from deployctl import engine
from testkit import ports
from testkit.dokploy import launch


def free_url() -> str:
    return f"http://127.0.0.1:{ports.free_port()}"


def test_a_standin_started_here_is_found_and_stopped_and_a_foreign_pid_is_never_touched(tmp_path: Path) -> None:
    state = tmp_path / "dokploy"
    url = free_url()
    assert launch.ensure_running(url, secrets.token_hex(8), state, Path(sys.executable), engine.PROJECT_DIR) is True
    try:
        assert launch.ensure_running(url, "other", state, Path(sys.executable), engine.PROJECT_DIR) is False  # answers already
        found = launch.started_here(state)
        assert found is not None and found[1] == url
        assert launch.stop(state) == found
        assert not launch.answers(url) and not (state / launch.PID_FILE).exists()
        assert launch.stop(state) is None  # nothing to stop twice
        (state / launch.PID_FILE).write_text(f"{os.getpid()} {url}\n")  # a pid that is not a stand-in of this directory
        assert launch.started_here(state) is None and launch.stop(state) is None
    finally:
        launch.stop(state)
