"""What a registry stores (for tests and benchmarks).

`stored_bytes`: the distinct blobs (config + layers) and manifests that the registry's tags refer
to, asked through the Registry HTTP API v2. `disk_bytes`: everything under the registry's storage
folder; the registry never collects garbage by itself, so its growth is exactly what pushes sent.
"""

from __future__ import annotations

from pathlib import Path

import requests
import yaml

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def stored_bytes(registry: str, timeout: float = 10, prefix: str = "") -> int:
    """Total size of distinct blobs and manifests reachable from the registry's tags (of the repositories under ``prefix``)."""
    base = f"http://{registry}/v2"
    repos = requests.get(f"{base}/_catalog", params={"n": 1000}, timeout=timeout).json().get("repositories") or []
    repos = [r for r in repos if r.startswith(prefix)]
    blobs: dict[str, int] = {}
    manifests: dict[str, int] = {}
    for repo in repos:
        tags = requests.get(f"{base}/{repo}/tags/list", timeout=timeout).json().get("tags") or []
        for tag in tags:
            resp = requests.get(f"{base}/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_V2}, timeout=timeout)
            if resp.status_code != 200:
                continue
            manifests[resp.headers.get("Docker-Content-Digest", f"{repo}:{tag}")] = len(resp.content)
            body = resp.json()
            for blob in [body.get("config") or {}, *(body.get("layers") or [])]:
                if blob.get("digest"):
                    blobs[blob["digest"]] = int(blob.get("size") or 0)
    return sum(blobs.values()) + sum(manifests.values())


def disk_bytes(root: Path) -> int:
    """Bytes under a filesystem registry's storage root (blobs and repository links)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def serving_root(default: Path, proc: Path = Path("/proc")) -> Path:
    """The storage root of the running ``docker-registry serve CONFIG`` (its config's filesystem rootdirectory): the
    registry may have been started from another checkout. ``default`` when none runs or its config says nothing."""
    for cmdline in sorted(proc.glob("[0-9]*/cmdline")):
        try:
            argv = [a.decode() for a in cmdline.read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if len(argv) >= 3 and argv[0].endswith("docker-registry") and argv[1] == "serve":
            try:
                config = yaml.safe_load(Path(argv[2]).read_text()) or {}
            except (OSError, yaml.YAMLError):
                return default
            root = ((config.get("storage") or {}).get("filesystem") or {}).get("rootdirectory")
            return Path(root) if root else default
    return default
