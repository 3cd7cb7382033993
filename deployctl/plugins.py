"""Before the engine runs: are the plugins this program needs installed? Missing ones are one line with the fix, not a download.

The engine looks a plugin up (shared/notes/pulumi.md §2) in Pulumi.yaml's ``plugins:``, then on PATH
(``pulumi-<kind>-<name>``), then next to the ``pulumi`` binary, then under ``$PULUMI_HOME/plugins/<kind>-<name>-v<version>/``;
what it does not find it tries to download, five times, which on a machine without the download site
fails after minutes with "Could not automatically download and install resource plugin". With the
stand-ins enabled (``BIZOSAAS_STANDINS=1``) testkit/bin is first on PATH and downloads are off.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Plugin:
    kind: str
    name: str
    sdk: str = ""
    """The Python package whose version is the plugin's ("" for the language host, which comes with the CLI)."""

    @property
    def binary(self) -> str:
        return f"pulumi-{self.kind}-{self.name}"

    def version(self) -> str:
        try:
            return metadata.version(self.sdk) if self.sdk else ""
        except metadata.PackageNotFoundError:
            return ""

    def describe(self) -> str:
        version = self.version()
        return f"{self.binary} {version}".strip()


NEEDED = (Plugin("language", "python"), Plugin("resource", "docker", "pulumi_docker"), Plugin("resource", "command", "pulumi_command"))
"""What `pulumi up` of this program loads: the Python language host and the docker and command providers."""


def installed(plugin: Plugin, env: Mapping[str, str]) -> bool:
    """Whether the engine would find ``plugin`` without downloading it (PATH, next to pulumi, PULUMI_HOME/plugins)."""
    path = env.get("PATH", "")
    if shutil.which(plugin.binary, path=path):
        return True
    pulumi = shutil.which("pulumi", path=path)
    if pulumi and (Path(pulumi).resolve().parent / plugin.binary).is_file():
        return True
    home = Path(env.get("PULUMI_HOME") or Path.home() / ".pulumi") / "plugins"
    version = plugin.version()
    pattern = f"{plugin.kind}-{plugin.name}-v{version}" if version else f"{plugin.kind}-{plugin.name}-v*"
    return any((d / plugin.binary).is_file() for d in home.glob(pattern))


def missing_message(command: str, env: Mapping[str, str], standins: bool) -> str:
    """"" when every plugin is there (or the stand-ins are on), else one line: what is missing and the fix."""
    if standins:
        return ""
    gone = [p for p in NEEDED if not installed(p, env)]
    if not gone:
        return ""
    installs = " && ".join(f"pulumi plugin install {p.kind} {p.name} {p.version()}" for p in gone if p.kind == "resource")
    real = f"install them ({installs}; the language host comes with the Pulumi CLI)" if installs else "install the Pulumi CLI"
    return (
        f"deployctl: {command} needs the Pulumi plugins {', '.join(p.describe() for p in gone)}, which are not installed here "
        f"(PATH, next to pulumi, PULUMI_HOME/plugins), and the stand-ins are off: on a machine that cannot download them run "
        f"`BIZOSAAS_STANDINS=1 venv/bin/python -m deployctl {command}` (testkit/bin, what make uses), else {real}"
    )
