"""What a registry stores, asked through the Registry HTTP API v2 (for tests and benchmarks).

Stored bytes = the sizes of the distinct blobs (config + layers) that the tagged manifests refer
to, plus the manifests themselves: what pushes have added to the registry.
"""

from __future__ import annotations

import requests

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def stored_bytes(registry: str, timeout: float = 10) -> int:
    """Total size of distinct blobs and manifests reachable from the registry's tags."""
    base = f"http://{registry}/v2"
    repos = requests.get(f"{base}/_catalog", params={"n": 1000}, timeout=timeout).json().get("repositories") or []
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
