"""deployctl: preview/up/refresh/destroy a stack through the real engine; demo, releases, rollback.

    python -m deployctl demo      --stack local        the main job end to end on the local default
    python -m deployctl preview   --stack S          pulumi preview --diff
    python -m deployctl up        --stack S
    python -m deployctl releases  --stack S
    python -m deployctl rollback  --stack S --release r-XXXXXXXXXXXX|previous
    python -m deployctl unpin     --stack S            go back to deploying freshly pushed images
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from pulumi import automation as auto

from deployctl import engine, ledger


def up(stack_name: str, *, quiet: bool = False, on_event: Callable[[auto.EngineEvent], None] | None = None) -> tuple[auto.UpResult, float]:
    """`pulumi up` and, when it succeeds, a ledger entry for the release it verified."""
    st = engine.stack(stack_name)
    started = time.monotonic()
    result = st.up(on_output=None if quiet else _print, on_event=on_event, color="never", suppress_progress=quiet)
    elapsed = time.monotonic() - started
    outputs = {k: v.value for k, v in result.outputs.items()}
    previous = ledger.releases(stack_name)[-1:]
    changed = previous == [] or previous[0]["release_id"] != outputs.get("release_id")
    if outputs.get("verified") and changed:
        # the file backend numbers no updates (version 0): count them from the stack's history
        ledger.record(stack_name, outputs, result.summary.version or len(st.history()))
    return result, elapsed


def preview(stack_name: str) -> auto.PreviewResult:
    """`pulumi preview --diff` (for the PR comment: `python -m deployctl.preview.summary --stack S`)."""
    return engine.stack(stack_name).preview(diff=True, on_output=_print, color="never")


def rollback(stack_name: str, release_id: str) -> tuple[auto.UpResult, float, dict[str, Any]]:
    """Pin the stack to an earlier release from the ledger and deploy it: no build, no push."""
    entry = ledger.find(stack_name, release_id)
    _pin_as_object(stack_name, entry["manifest"])
    result, elapsed = up(stack_name)
    return result, elapsed, entry


def _pin_as_object(stack_name: str, manifest: dict[str, str]) -> None:
    """Write pinnedRelease as a YAML object in the stack file (config set would store a string)."""
    import yaml

    path = engine.PROJECT_DIR / f"Pulumi.{stack_name}.yaml"
    doc = yaml.safe_load(path.read_text()) or {}
    doc.setdefault("config", {})["bizosaas:pinnedRelease"] = dict(sorted(manifest.items()))
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def unpin(stack_name: str) -> None:
    """Remove a rollback pin: the next `up` deploys the freshly pushed images again."""
    engine.stack(stack_name).remove_config("bizosaas:pinnedRelease")


def _print(line: str) -> None:
    sys.stdout.write(line if line.endswith("\n") else line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deployctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["demo", "init", "preview", "up", "refresh", "destroy", "releases", "rollback", "unpin"])
    parser.add_argument("--stack", default="local")
    parser.add_argument("--release", help="rollback: a release id from `releases`, or 'previous'")
    parser.add_argument("--diff", action="store_true", help="preview: accepted for familiarity; the diff is always shown")
    args = parser.parse_args(argv)
    engine.engine_env()  # PATH, backend, passphrase: the ledger commands need them too

    if args.command == "demo":
        from deployctl import demo

        return demo.run(args.stack)
    if args.command == "init":
        from deployctl import demo

        demo.init_stack(args.stack)
        return 0
    if args.command == "preview":
        preview(args.stack)
    elif args.command == "up":
        up(args.stack)
    elif args.command == "refresh":
        engine.stack(args.stack).refresh(on_output=_print, color="never")
    elif args.command == "destroy":
        engine.stack(args.stack).destroy(on_output=_print, color="never")
    elif args.command == "releases":
        for e in ledger.releases(args.stack):
            print(f"{e['release_id']}  {e['time']}  by {e['by']}  commit {e['commit'] or '-'}  update {e['update']}")
    elif args.command == "rollback":
        if not args.release:
            parser.error("rollback needs --release (see `releases`)")
        try:
            _, elapsed, entry = rollback(args.stack, args.release)
        except LookupError as exc:
            print(f"deployctl: {exc.args[0]}", file=sys.stderr)
            return 1
        print(f"stack {args.stack}: rolled back to {entry['release_id']} (recorded {entry['time']}) in {elapsed:.1f}s; "
              f"`python -m deployctl unpin --stack {args.stack}` returns to fresh images")
    elif args.command == "unpin":
        unpin(args.stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
