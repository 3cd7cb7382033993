"""The PR environment's section of the pull-request comment (the preview summary's comment): after an `up` its URLs and
what verification saw, after a destroy what went (pure).

The section sits between two markers inside the one comment the preview workflow keeps (``PREVIEW_MARKER``); the preview
workflow keeps the section when it rewrites its summaries, and ``merge`` replaces only the section. It never holds a secret
value: URLs, digests, health, restart counts and the HTTP status each route answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deployctl.preview.markdown import code, fenced

PREVIEW_MARKER = "<!-- bizosaas-deploy:pulumi-preview -->"
"""The first line of the one preview comment (.github/workflows/preview.yml)."""
START = "<!-- bizosaas-deploy:pr-environment -->"
END = "<!-- /bizosaas-deploy:pr-environment -->"
MAX_CHARS = 4000
"""The section's budget: the preview's two summaries take 2 x 30,000 of GitHub's 65,536 characters."""


def url_of(route: Mapping[str, Any]) -> str:
    """What a browser opens for one route (``core.routes.inputs``): ``https://api.pr-12.example.com``, its path when not /."""
    path = str(route.get("path") or "/")
    return f"{'https' if route.get('https') else 'http'}://{route.get('host')}{'' if path == '/' else path}"


def urls(outputs: Mapping[str, Any]) -> dict[str, str]:
    """service -> its URL, from the release the `up` recorded (``release.compose.<group>.routes``)."""
    compose = (outputs.get("release") or {}).get("compose") or {}
    found: dict[str, str] = {}
    for part in compose.values():
        for service, route in ((part or {}).get("routes") or {}).items():
            if isinstance(route, Mapping) and route.get("host"):
                found[str(service)] = url_of(route)
    return found


def _seen(record: Mapping[str, Any]) -> str:
    if not record:
        return "not verified"
    seen = f"{record.get('health')}, {record.get('restarts')} restarts"
    check = record.get("route")
    if isinstance(check, Mapping):
        seen += f"; route answered HTTP {check.get('status')} through Traefik in {float(check.get('seconds') or 0):.1f}s"
    return seen


def deployed(stack: str, outputs: Mapping[str, Any], elapsed: float, pushed: Sequence[str] = ()) -> str:
    """The section after a successful `up`: the verdict, the release, the URL of each public service, what verification saw."""
    verified = outputs.get("verified") is True
    head = f"### PR environment {code(stack)}: {'verified' if verified else 'NOT verified'}"
    records = outputs.get("verification") or {}
    links = urls(outputs)
    front = next((links[s] for s in sorted(links) if links[s].split("://", 1)[-1].startswith(stack)), "")
    lines = [head, "", f"Release {code(str(outputs.get('release_id') or '?'))}, `up` took {elapsed:.0f}s"
             + (f"; pushed {', '.join(code(s) for s in sorted(pushed))}" if pushed else "; no image pushed") + "."]
    if front:
        lines.append(f"Open it: {front}")
    lines += ["", "| service | URL | verification |", "| --- | --- | --- |"]
    for service in sorted(set(records) | set(links)):
        link = links.get(service) or "internal (dokploy-network only)"
        lines.append(f"| {code(service)} | {link} | {_seen(records.get(service) or {})} |")
    return _fit(lines)


def failed(stack: str, problems: Sequence[str]) -> str:
    """The section after a failed `up`: what the engine said (the engine never prints a secret value), cut to the budget."""
    body = "\n".join(p.strip() for p in problems if p.strip())[: MAX_CHARS - 800] or "the update failed (see the workflow log)"
    opening, closing = fenced(body)
    return _fit([f"### PR environment {code(stack)}: the update FAILED", "", opening, *body.splitlines(), closing, "",
                 "The previous version (if any) still runs; the next push tries again."])


def destroyed(stack: str, why: str, removed: Sequence[str]) -> str:
    """The section after the environment was destroyed: why, and what went."""
    lines = [f"### PR environment {code(stack)}: destroyed", "", why, ""]
    lines += [f"- {line}" for line in removed]
    return _fit(lines)


def _fit(lines: list[str]) -> str:
    """The lines within the budget, each whole (a table row too long to fit is left out and counted)."""
    kept: list[str] = []
    used = len(START) + len(END) + 200
    for i, line in enumerate(lines):
        if used + len(line) + 1 > MAX_CHARS:
            kept.append(f"… {len(lines) - i} more lines (the workflow log has them all)")
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept)


def merge(body: str, section: str) -> str:
    """The comment ``body`` with its PR-environment section replaced by ``section`` (or added at its end); a new comment
    starts with the preview marker, so that the preview workflow finds and keeps it."""
    block = f"{START}\n{section.strip()}\n{END}"
    if START in body and END in body.split(START, 1)[1]:
        before, rest = body.split(START, 1)
        after = rest.split(END, 1)[1]
        return f"{before}{block}{after}"
    if not body.strip():
        return f"{PREVIEW_MARKER}\n{block}\n"
    return f"{body.rstrip()}\n\n{block}\n"


def section_of(body: str) -> str:
    """The PR-environment section of a comment body, markers included ("" when it has none): what the preview keeps."""
    if START not in body or END not in body.split(START, 1)[1]:
        return ""
    return START + body.split(START, 1)[1].split(END, 1)[0] + END
