"""Start the Dokploy stand-in as a background server (``python -m testkit.dokploy``) unless one already answers."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import requests


def answers(url: str, timeout: float = 2) -> bool:
    """Whether something answers ``GET <url>/api/health`` with 2xx."""
    try:
        return requests.get(f"{url}/api/health", timeout=timeout).ok
    except requests.ConnectionError:
        return False


def ensure_running(url: str, key: str, state_dir: Path, python: Path, cwd: Path) -> bool:
    """Start the stand-in on ``url``'s port with ``key``, really deploying with Docker; True if it was started now."""
    if answers(url):
        return False
    state_dir.mkdir(parents=True, exist_ok=True)
    port = url.rsplit(":", 1)[1]
    log = (state_dir.parent / "dokploy.log").open("ab")
    cmd = [str(python), "-m", "testkit.dokploy", "--host", "127.0.0.1", "--port", port, "--api-key-env", "DOKPLOY_API_KEY",
           "--state-file", str(state_dir / "state.json"), "--work-dir", str(state_dir), "--docker"]
    subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=log, start_new_session=True, env={**os.environ, "DOKPLOY_API_KEY": key})
    for _ in range(100):
        if answers(url, timeout=1):
            return True
        time.sleep(0.1)
    raise RuntimeError(f"the Dokploy stand-in did not start; see {state_dir.parent / 'dokploy.log'}")
