"""deployctl's command line: parse the arguments, call the operation, print one line per problem.

    python -m deployctl demo      --stack local        the main job end to end on the local default
    python -m deployctl preview   --stack S            pulumi preview --diff
    python -m deployctl up        --stack S
    python -m deployctl releases  --stack S [--limit N]  the releases `pulumi up` recorded, newest first
    python -m deployctl rollback  --stack S --release r-XXXXXXXXXXXX|previous     pin + up
    python -m deployctl pin       --stack S --release r-XXXXXXXXXXXX|previous     pin only (then `pulumi up`)
    python -m deployctl unpin     --stack S            go back to deploying freshly pushed images
"""

from __future__ import annotations

import argparse
import sys

from core.ledger import ReleaseNotFound
from deployctl import engine, ledger, operations
from probes import state_backend

COMMANDS = ["demo", "init", "preview", "up", "refresh", "destroy", "releases", "rollback", "pin", "unpin"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deployctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--stack", default="local")
    parser.add_argument("--release", help="rollback, pin: a release id from `releases`, or 'previous'")
    parser.add_argument("--diff", action="store_true", help="preview: accepted for familiarity; the diff is always shown")
    parser.add_argument("--limit", type=int, default=0, help="releases: read only the newest N updates (default: all)")
    args = parser.parse_args(argv)
    engine.engine_env()  # PATH, backend, passphrase: the ledger commands need them too
    try:
        return _run(args, parser)
    except (ReleaseNotFound, state_backend.BackendError) as exc:  # any other error keeps its traceback
        print(f"deployctl: {exc}", file=sys.stderr)
        return 1
    except operations.EngineFailed as exc:  # the engine printed its progress; the problems once, no traceback
        print(f"deployctl: {args.command} --stack {args.stack} failed:", file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "demo":
        from deployctl import demo

        return demo.run(args.stack)
    if args.command == "init":
        from deployctl import local_stack

        local_stack.init(args.stack)
        return 0
    if args.command == "preview":
        operations.preview(args.stack)
    elif args.command == "up":
        operations.up(args.stack)
    elif args.command == "refresh":
        operations.refresh(args.stack)
    elif args.command == "destroy":
        operations.destroy(args.stack)
    elif args.command == "releases":
        for line in ledger.lines(ledger.deployments(args.stack, newest=args.limit or None)):
            print(line)
    elif args.command in ("rollback", "pin"):
        if not args.release:
            parser.error(f"{args.command} needs --release (see `releases`)")
        if args.command == "pin":
            row = operations.pin(args.stack, args.release)
            print(f"stack {args.stack}: pinned to {row.release_id} (update {row.update}); `pulumi up` deploys it")
            return 0
        _, elapsed, row = operations.rollback(args.stack, args.release)
        print(
            f"stack {args.stack}: rolled back to {row.release_id} (update {row.update}, recorded {ledger.when(row)}) in {elapsed:.1f}s; "
            f"`python -m deployctl unpin --stack {args.stack}` returns to fresh images"
        )
    elif args.command == "unpin":
        operations.unpin(args.stack)
    return 0
