"""STAND-IN Docker Engine access through the ``docker`` CLI (subprocess).

Every command gets an explicit ``-H <host>`` (the provider's ``host``, else ``DOCKER_HOST``, else
the local socket, as the real provider resolves it) and an explicit ``--config <dir>``: a private,
empty directory for reads and tags, and a throw-away directory holding only the registry login for
a push. The user's ``~/.docker`` is never read or written by these commands.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

DEFAULT_HOST = "unix:///var/run/docker.sock"
_DIGEST_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})")
_SCRUBBED_ENV = ("DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


class DockerError(Exception):
    """A ``docker`` command failed; the message is safe to show (no secrets)."""


def log(message: str) -> None:
    """STAND-IN log line on stderr (the engine keeps plugin stderr in its logs)."""
    print(f"[docker stand-in] {message}", file=sys.stderr, flush=True)


def _private_config_dir() -> str:
    path = tempfile.mkdtemp(prefix="docker-standin-config-")
    atexit.register(shutil.rmtree, path, True)
    return path


@dataclass
class DockerCLI:
    """STAND-IN client: thin wrappers over ``docker`` subcommands the two resources need."""

    host: str = DEFAULT_HOST
    binary: str = "docker"
    _config_dir: str = field(default_factory=_private_config_dir, repr=False)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env.setdefault("DOCKER_CLI_HINTS", "false")
        return env

    def run(
        self,
        args: Sequence[str],
        *,
        config_dir: str | None = None,
        stdin: str | None = None,
        timeout: float | None = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker -H host --config dir <args>``; never raises on a non-zero exit."""
        cmd = [self.binary, "--config", config_dir or self._config_dir, "-H", self.host, *args]
        try:
            return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=self._env(), timeout=timeout, check=False)
        except FileNotFoundError as exc:
            raise DockerError(f"the docker CLI ({self.binary}) is not installed or not on PATH") from exc
        except subprocess.TimeoutExpired as exc:
            raise DockerError(f"docker {args[0]} did not finish within {timeout}s") from exc

    def ping(self) -> str:
        """Server version, or DockerError when the daemon does not answer."""
        res = self.run(["version", "--format", "{{.Server.Version}}"], timeout=30)
        if res.returncode != 0 or not res.stdout.strip():
            raise DockerError(f"error pinging Docker server at {self.host}: {_tail(res)}")
        return res.stdout.strip()

    def inspect(self, ref: str) -> dict | None:
        """``docker image inspect`` of one reference, or None when the daemon has no such image."""
        res = self.run(["image", "inspect", ref], timeout=60)
        if res.returncode != 0:
            if "no such image" in (res.stderr + res.stdout).lower():
                return None
            raise DockerError(f"docker image inspect {ref} failed at {self.host}: {_tail(res)}")
        data = json.loads(res.stdout or "[]")
        return data[0] if data else None

    def image_id(self, ref: str) -> str | None:
        """The image id (sha256:...) behind ``ref``, or None when absent."""
        info = self.inspect(ref)
        return info.get("Id") if info else None

    def repo_digests(self, ref: str) -> list[str]:
        """``RepoDigests`` of the image behind ``ref`` (empty when absent)."""
        info = self.inspect(ref)
        return list(info.get("RepoDigests") or []) if info else []

    def tag(self, source: str, target: str) -> None:
        """``docker tag source target``."""
        res = self.run(["tag", source, target], timeout=60)
        if res.returncode != 0:
            raise DockerError(f"failed to create docker tag {target} from {source}: {_tail(res)}")

    def login(self, config_dir: str, server: str, username: str, password: str) -> None:
        """``docker login --password-stdin`` into ``config_dir`` only; the password never appears in output."""
        res = self.run(
            ["login", server, "--username", username, "--password-stdin"],
            config_dir=config_dir,
            stdin=password,
            timeout=60,
        )
        if res.returncode != 0:
            raise DockerError(f"docker login to {server} as {username!r} failed: {_scrub(_tail(res), password)}")

    def push(self, ref: str, config_dir: str, timeout: float | None = None) -> str | None:
        """``docker push ref``; returns the manifest digest the CLI printed (None if it printed none)."""
        res = self.run(["push", ref], config_dir=config_dir, timeout=timeout)
        if res.returncode != 0:
            raise DockerError(_tail(res))
        found = _DIGEST_RE.findall(res.stdout + res.stderr)
        return found[-1] if found else None

    @contextmanager
    def session(self) -> Iterator[str]:
        """A throw-away ``--config`` directory for one push (removed afterwards)."""
        path = tempfile.mkdtemp(prefix="docker-standin-push-")
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def _tail(res: subprocess.CompletedProcess[str], lines: int = 6) -> str:
    text = (res.stderr.strip() or res.stdout.strip() or f"exit status {res.returncode}").splitlines()
    return " | ".join(line.strip() for line in text[-lines:] if line.strip())


def _scrub(text: str, *secrets: str | None) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text


scrub = _scrub
