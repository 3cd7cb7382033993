"""The command line that writes the release-aware Markdown summary of a Pulumi preview for a pull-request comment.

    python -m deployctl.preview --stack staging --input preview.json --out summary.md
    python -m deployctl.preview --stack staging --out summary.md      (runs the preview itself)

Input: the stdout of ``pulumi preview --json`` ({"steps": [...], "changeSummary": ...}) or engine
events (``pulumi preview --event-log FILE``: JSON lines; or a JSON list of them; the Automation
API's on_event objects are converted by ``event_to_dict``).

What a reviewer reads: per service the image digest (12 hex), env keys added/removed/changed,
ports and health URL; which Dokploy compose projects redeploy; which images are tested before their
push (and a warning for images pushed untested); how many images are pushed; whether the change
reaches production. Values of env variables are never printed (only key names); secret
inputs are only named. The compose file diff is collapsed in <details>, with values of secret keys
redacted. Output is deterministic (sorted, no timestamps) and fits a GitHub comment.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployctl.preview.parse import Preview, event_to_dict, load_preview, preview_from_events
from deployctl.preview.render import DEFAULT_MAX_CHARS, GITHUB_COMMENT_LIMIT, summarize


def run_preview(stack: str, on_event: Callable[[dict[str, Any]], None]) -> bool:
    """Preview `stack` through deployctl.engine (Automation API); events go to on_event. True on success."""
    from pulumi import automation as auto

    from deployctl import engine

    st = engine.stack(stack)
    try:
        st.preview(diff=True, color="never", on_event=lambda e: on_event(event_to_dict(e)))
    except auto.CommandError as exc:
        sys.stderr.write(f"preview of {stack} failed: {str(exc)[-4000:]}\n")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployctl.preview", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--input", help="preview --json output or engine events (JSON list or JSON lines); '-' for stdin")
    parser.add_argument("--out", help="write the Markdown here (default: stdout)")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help=f"size budget (default {DEFAULT_MAX_CHARS})")
    parser.add_argument("--preview-exit-code", type=int, default=0,
                        help="exit status of the `pulumi preview` that wrote --input; non-zero marks the summary as failed")
    args = parser.parse_args(argv)
    if args.max_chars > GITHUB_COMMENT_LIMIT:
        parser.error(f"--max-chars must stay under GitHub's comment limit ({GITHUB_COMMENT_LIMIT})")

    ok = True
    if args.input:
        text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text()
        preview = load_preview(text)
    else:
        events: list[dict[str, Any]] = []
        ok = run_preview(args.stack, events.append)
        preview = preview_from_events(events)
        if not ok and not preview.errors:
            preview = Preview(preview.steps, ("the preview failed (see the log)",))
    if args.preview_exit_code and not preview.errors:
        preview = Preview(preview.steps, (f"pulumi preview exited with status {args.preview_exit_code} (see the workflow log)",))
    markdown = summarize(args.stack, preview, args.max_chars)
    if args.out:
        Path(args.out).write_text(markdown)
    else:
        sys.stdout.write(markdown)
    return 0 if ok and not preview.errors else 1


if __name__ == "__main__":
    sys.exit(main())
