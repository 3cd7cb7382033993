"""Start the Dokploy stand-in as a background server (``python -m testkit.dokploy``) unless one already answers; stop the one started here.

The process started here is remembered in ``<state_dir>/standin.pid`` (its pid and URL), so that
``stop`` ends that process and no other: a stand-in started from another checkout, or by hand, has no
pid file here and is left alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

PID_FILE = "standin.pid"


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
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=log, start_new_session=True, env={**os.environ, "DOKPLOY_API_KEY": key})
    (state_dir / PID_FILE).write_text(f"{proc.pid} {url}\n")
    for _ in range(100):
        if answers(url, timeout=1):
            return True
        time.sleep(0.1)
    raise RuntimeError(f"the Dokploy stand-in did not start; see {state_dir.parent / 'dokploy.log'}")


def started_here(state_dir: Path) -> tuple[int, str] | None:
    """(pid, url) of the stand-in started with this state directory, when that process still runs; else None."""
    try:
        pid_text, url = (state_dir / PID_FILE).read_text().split()
        pid = int(pid_text)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    ours = b"testkit.dokploy" in cmdline and str(state_dir).encode() in cmdline  # not a pid reused by another process
    return (pid, url) if ours else None


def stop(state_dir: Path, timeout: float = 15.0) -> tuple[int, str] | None:
    """Stop the stand-in started with this state directory (SIGTERM, then SIGKILL); its (pid, url), or None if none ran."""
    found = started_here(state_dir)
    (state_dir / PID_FILE).unlink(missing_ok=True)
    if found is None:
        return None
    pid, _ = found
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        if _zombie(pid):
            break
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists() and not _zombie(pid):
        os.kill(pid, signal.SIGKILL)
    return found


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
