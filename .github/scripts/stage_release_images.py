"""Make the images a stack runs available under the catalog's local image names (for a PR preview).

The staging program pushes the *local* images the catalog names (``local_image``) and refuses to
run when one is missing. A pull-request preview should show what the PR changes, not a rebuild:
so it pulls the images of staging's current release (``pulumi stack output release_manifest``:
service -> repository@sha256:...) and tags each with its local name. A pulled image keeps the
image id it was pushed with, so the push triggers are unchanged and the preview shows no push for
it. A service without a deployed image (a new one) is reported; the preview then says it is not built.

    python .github/scripts/stage_release_images.py --manifest manifest.json --stack staging [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from components.stack_config import settings_from_file  # noqa: E402  (the repository is on sys.path now)
from core.catalog import resolve, secret_names  # noqa: E402


def local_images(catalog: Mapping[str, Any], stack: str, stack_file: Mapping[str, Any]) -> dict[str, str]:
    """service -> local image name of the stack's enabled services (the catalog, overlaid and validated)."""
    config = stack_file.get("config") or {}
    resolved = resolve(catalog, settings_from_file(stack, config, secret_names(catalog)))
    return {name: svc.local_image for name, svc in sorted(resolved.services.items())}


def plan(manifest: Mapping[str, str], names: Mapping[str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    """([(repository@digest, local name)], services without a deployed image), sorted."""
    pulls = [(manifest[s], names[s]) for s in sorted(names) if s in manifest and names[s]]
    missing = sorted(s for s in names if s not in manifest)
    return pulls, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="JSON: service -> repository@sha256:... (empty file: nothing deployed yet)")
    parser.add_argument("--stack", default="staging")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    text = Path(args.manifest).read_text().strip()
    manifest = json.loads(text) if text else {}
    catalog = yaml.safe_load((REPO / "catalog.yaml").read_text())
    stack_file = REPO / f"Pulumi.{args.stack}.yaml"
    stack_config = yaml.safe_load(stack_file.read_text()) if stack_file.exists() else {}
    pulls, missing = plan(manifest, local_images(catalog, args.stack, stack_config or {}))
    for service in missing:
        print(f"::warning::{service}: {args.stack} has no deployed image; the preview reports it as not built")
    for ref, local in pulls:
        print(f"{ref} -> {local}")
        if not args.dry_run:
            subprocess.run(["docker", "pull", "-q", ref], check=True)
            subprocess.run(["docker", "tag", ref, local], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
