"""Render an analysed preview as a Markdown pull-request comment that fits a character budget.

Header and verdict always; then compose projects, image pushes, services and other resources as the
budget allows (what is left out is counted), and each compose file diff collapsed in <details>.
Output is deterministic (sorted, no timestamps) and fits a GitHub comment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from deployctl.preview.analyse import Analysis, analyse
from deployctl.preview.markdown import code, codes, fenced
from deployctl.preview.parse import Preview

GITHUB_COMMENT_LIMIT = 65_536
DEFAULT_MAX_CHARS = 60_000  # leaves room for a marker and a footer the workflow adds


def is_prod(stack: str) -> bool:
    name = stack.rsplit("/", 1)[-1].lower()
    return name in {"prod", "production"} or name.endswith(("-prod", "-production"))


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def prod_note(a: Analysis) -> str:
    images = len(a.image_services)
    if is_prod(a.stack):
        parts: list[str] = []
        if images:
            parts.append(f"promotes {plural(images, 'image digest')} verified on staging")
        if a.settings_changed:
            parts.append("prod-only settings change (not promoted from staging)")
        return "**Production deploy**: " + (" and ".join(parts) or "changes production") + "."
    if images:
        return f"Will reach prod on promotion ({plural(images, 'image digest')})."
    return "Nothing to promote: no image digest changes (prod's own preview shows shared settings changes)."


def verdict(a: Analysis) -> str:
    if not a.changed:
        return f"**{a.stack}**: no changes."
    if a.errors:
        return f"**{a.stack}**: preview FAILED ({plural(len(a.errors), 'error')}); nothing will be deployed from this plan."
    redeploy = [p.project for p in a.projects if p.redeploys]
    removed = [p.project for p in a.projects if p.op == "delete"]
    svc = sorted({s.service for s in a.services} | {p.service for p in a.pushes})
    parts = [plural(len(svc), "service") + " changed"]
    parts.append(f"redeploys {codes(redeploy)}" if redeploy else "no compose project redeploys")
    if removed:
        parts.append(f"removes {codes(removed)}")
    if a.tests_run:
        parts.append(plural(len(a.tests_run), "image test"))
    parts.append(plural(len(a.pushes), "image push", "image pushes"))
    if a.others:
        parts.append(plural(len(a.others), "other resource") + " changed")
    return f"**{a.stack}**: " + ", ".join(parts) + ". " + prod_note(a)


@dataclass
class Budget:
    """Characters left for the comment; sections take what fits and say what they left out."""

    left: int
    parts: list[str] = field(default_factory=list)

    def take(self, text: str) -> bool:
        if len(text) + 1 > self.left:
            return False
        self.parts.append(text)
        self.left -= len(text) + 1
        return True

    def text(self) -> str:
        return "\n".join(self.parts) + "\n"


NOTE_RESERVE = 120  # room kept for a "… N more" note


def take_list(budget: Budget, title: str, items: Sequence[str], noun: str, reserve: int = 0) -> None:
    """A titled list; items that do not fit become "… N more <noun>"."""
    if not items:
        return
    if not budget.take(title):
        return
    for i, item in enumerate(items):
        if len(item) + 1 > budget.left - NOTE_RESERVE - reserve:
            budget.take(f"- … {len(items) - i} more {noun} (the full preview is in the workflow log)")
            break
        budget.take(item)
    budget.take("")


def take_details(budget: Budget, summary: str, body: str, lang: str = "diff", share: int = 1) -> None:
    """A collapsed <details> block using at most 1/share of the budget left; long bodies are cut by lines with a note."""
    opening, closing = fenced(body, lang)
    head = f"<details><summary>{summary}</summary>\n\n{opening}"
    tail = f"{closing}\n\n</details>\n"
    lines = body.splitlines()
    room = budget.left // max(share, 1) - len(head) - len(tail) - 2 - NOTE_RESERVE
    if room < 200:
        budget.take(f"_{summary}: left out (comment size limit)._\n")
        return
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > room:
            break
        kept.append(line)
        used += len(line) + 1
    if len(kept) < len(lines):
        kept.append(f"… {len(lines) - len(kept)} more diff lines (the full preview is in the workflow log)")
    budget.take("\n".join([head, *kept, tail]))


def project_items(a: Analysis) -> list[str]:
    return [f"- {code(p.project)}: {p.verb}" + (f"; {'; '.join(p.details)}" if p.details else "") for p in a.projects]


def service_items(a: Analysis) -> list[str]:
    return [f"- {code(s.service)} ({code(s.project)}): " + "; ".join(s.lines) for s in a.services]


def push_items(a: Analysis) -> list[str]:
    return [
        f"- {code(p.service)}: {p.op}" + (f", {code(p.old_digest)} → new digest (known after push)" if p.old_digest else ", first push")
        for p in a.pushes
    ]


def test_items(a: Analysis) -> list[str]:
    return [f"- {code(t.service)}: {t.why}" for t in a.tests]


def untested_note(a: Analysis) -> str:
    """A warning when images are pushed without their pre-push test (the stack's testGate is false)."""
    if not a.untested:
        return ""
    return (f"**Warning**: {plural(len(a.untested), 'image is', 'images are')} pushed WITHOUT a pre-push test "
            f"(`testGate: false`): {codes(a.untested)}.")


def other_items(a: Analysis) -> list[str]:
    return [f"- {code(o.name)} ({code(o.type)}): {o.op}" + (f" ({codes(o.keys)})" if o.keys else "") for o in a.others]


def error_block(errors: Sequence[str], limit: int) -> str:
    body = "\n\n".join(e[:2000] for e in errors)
    if len(body) > limit:
        body = body[:limit] + "\n… (cut: the full error is in the workflow log)"
    opening, closing = fenced(body)
    return f"{opening}\n{body}\n{closing}"


def render(a: Analysis, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The Markdown comment body (header and verdict always; the rest as the budget allows)."""
    if not a.changed:
        return verdict(a) + "\n"
    budget = Budget(max_chars)
    budget.take(f"### Pulumi preview: {code(a.stack)}")
    budget.take(verdict(a))
    budget.take("")
    if a.errors:
        budget.take(error_block(a.errors, min(8000, budget.left // 2)))
    if untested_note(a):
        budget.take(untested_note(a))
        budget.take("")
    take_list(budget, "**Compose projects**", project_items(a), "compose projects")
    take_list(budget, f"**Image tests ({len(a.tests_run)})**: each runs before its image is tagged and pushed; "
                      "a failing test stops that push", test_items(a), "tests")
    take_list(budget, f"**Image pushes ({len(a.pushes)})**", push_items(a), "pushes")
    services = service_items(a)
    if a.services_pending and not services:
        services = [f"- {codes(a.services_pending)}: per-service changes are known after the push"]
    take_list(budget, "**Services**", services, "services")
    take_list(budget, "**Other resources**", other_items(a), "resources")
    for p in (p for p in a.projects if p.compose_note and not p.compose_diff):
        budget.take(f"_{code(p.project)}: {p.compose_note}._\n")
    diffs = [p for p in a.projects if p.compose_diff]
    for i, p in enumerate(diffs):  # each diff gets an equal share of what is left
        take_details(budget, f"<code>{p.project}</code> compose file diff", p.compose_diff, share=len(diffs) - i)
    return budget.text().rstrip("\n") + "\n"


def summarize(stack: str, preview: Preview, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The Markdown comment for a parsed preview of `stack`."""
    return render(analyse(stack, preview), max_chars)
