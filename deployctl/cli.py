"""deployctl's command line: parse the arguments, call the operation, print one line per problem.

    python -m deployctl demo      --stack local        the main job end to end on the local default
    python -m deployctl down                           tear the demo down (every local stack, the stand-in); `make down`
    python -m deployctl standin   --stack local        start the local stack's Dokploy stand-in (make demo does too)
    python -m deployctl preview   --stack S            pulumi preview --diff
    python -m deployctl up        --stack S
    python -m deployctl status    --stack S [--json]   per service what runs, through Dokploy's API, against the last verified release
    python -m deployctl logs      --stack S SERVICE [--tail N] [--since 10m]   a service's log through Dokploy's API, secrets redacted
    python -m deployctl releases  --stack S [--limit N]  the releases `pulumi up` recorded, newest first
    python -m deployctl rollback  --stack S --release r-XXXXXXXXXXXX|previous     pin + up
    python -m deployctl pin       --stack S --release r-XXXXXXXXXXXX|previous     pin only (then `pulumi up`)
    python -m deployctl unpin     --stack S            go back to deploying freshly pushed images
    python -m deployctl pr up|destroy|sweep|list [--pr N]   a live environment per pull request (deployctl/pr.py)
"""

from __future__ import annotations

import argparse
import sys

from core.ledger import ReleaseNotFound
from deployctl import engine, ledger, operations, plugins, target
from dokploy_api import DokployError
from probes import state_backend

COMMANDS = ["demo", "down", "standin", "init", "preview", "up", "refresh", "destroy", "status", "logs", "releases", "rollback", "pin",
            "unpin"]
ENGINE = ("demo", "down", "preview", "up", "refresh", "destroy", "rollback")
"""Commands that run the engine: its plugins must be installed (or the stand-ins on) first."""
DOKPLOY = ("up", "refresh", "destroy", "rollback")
"""Engine commands that call the stack's Dokploy: it must answer first (status and logs check it themselves)."""


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["pr"]:  # a command group of its own: the PR environments (deployctl/pr.py)
        from deployctl import pr

        return pr.main(given[1:])
    parser = argparse.ArgumentParser(prog="deployctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("service", nargs="?", help="logs: the service (brain-api, ...)")
    parser.add_argument("--stack", default="local")
    parser.add_argument("--release", help="rollback, pin: a release id from `releases`, or 'previous'")
    parser.add_argument("--diff", action="store_true", help="preview: accepted for familiarity; the diff is always shown")
    parser.add_argument("--limit", type=int, default=0, help="releases: read only the newest N updates (default: all)")
    parser.add_argument("--json", action="store_true", help="status: JSON for scripts")
    parser.add_argument("--tail", type=int, default=100, help="logs: the last N lines of each container (1-10000, default 100)")
    parser.add_argument("--since", default="all", help="logs: only lines newer than 30s, 15m, 2h, 1d (default all)")
    args = parser.parse_intermixed_args(argv)  # `logs --stack S SERVICE`: the service after the options
    env = engine.engine_env()  # PATH, backend, passphrase: the ledger commands need them too
    missing = plugins.missing_message(_command_line(args), env, engine.standins_enabled()) if args.command in ENGINE else ""
    if missing:
        print(missing, file=sys.stderr)
        return 1
    try:
        if args.command in DOKPLOY:
            _check_dokploy(args.stack)
        return _run(args, parser)
    except (ReleaseNotFound, state_backend.BackendError, target.TargetError, DokployError) as exc:  # any other error keeps its traceback
        print(f"deployctl: {exc}", file=sys.stderr)
        return 1
    except operations.EngineFailed as exc:  # the engine printed its progress; the problems once, no traceback
        print(f"deployctl: {args.command} --stack {args.stack} failed:", file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        hint = _standin_hint(args.stack, exc.problems)
        if hint:
            print(hint, file=sys.stderr)
        return 1


def _command_line(args: argparse.Namespace) -> str:
    return args.command if args.command == "down" else f"{args.command} --stack {args.stack}"


def _check_dokploy(stack: str) -> None:
    """The stack's Dokploy answers (a stack without a stack file here is left to the engine to report)."""
    try:
        where = target.read(stack)
    except target.TargetError:
        return
    target.check_answers(where)


def _standin_hint(stack: str, problems: list[str]) -> str:
    """For a local stack whose Dokploy stopped answering during the run: which URL, and the command that starts it."""
    try:
        where = target.read(stack)
    except target.TargetError:
        return ""
    if not where.local or not any(f"({where.url})" in p and "connect" in p for p in problems):
        return ""
    return f"deployctl: stack {stack}: Dokploy at {where.url} stopped answering: {where.standin_hint()}"


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command in ("demo", "standin"):
        from deployctl import demo

        return demo.run(args.stack) if args.command == "demo" else demo.standin(args.stack)
    if args.command == "down":
        from deployctl import down

        return down.run()
    if args.command == "status":
        from deployctl import status

        return status.run(args.stack, args.json)
    if args.command == "logs":
        from deployctl import logs

        if not args.service:
            parser.error("logs needs the service: `deployctl logs --stack S SERVICE` (see `deployctl status --stack S`)")
        try:
            return logs.run(args.stack, args.service, args.tail, args.since)
        except logs.LogsError as exc:
            print(f"deployctl: {exc}", file=sys.stderr)
            return 1
    if args.command == "init":
        from deployctl import local_stack

        local_stack.init(args.stack)
        return 0
    if args.command == "preview":
        operations.preview(args.stack)
    elif args.command == "up":
        operations.up(args.stack, results=False)
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
        _, elapsed, row = operations.rollback(args.stack, args.release, results=False)
        print(
            f"stack {args.stack}: rolled back to {row.release_id} (update {row.update}, recorded {ledger.when(row)}) in {elapsed:.1f}s; "
            f"`python -m deployctl unpin --stack {args.stack}` returns to fresh images"
        )
    elif args.command == "unpin":
        operations.unpin(args.stack)
    return 0
