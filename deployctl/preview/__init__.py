"""A release-aware Markdown summary of a Pulumi preview for a pull-request comment (``python -m deployctl.preview``)."""

from deployctl.preview.analyse import Analysis, redact_compose
from deployctl.preview.parse import Preview, Step, event_to_dict, load_preview, preview_from_events, preview_from_json, stack_of
from deployctl.preview.render import DEFAULT_MAX_CHARS, GITHUB_COMMENT_LIMIT, summarize

__all__ = [
    "DEFAULT_MAX_CHARS",
    "GITHUB_COMMENT_LIMIT",
    "Analysis",
    "Preview",
    "Step",
    "event_to_dict",
    "load_preview",
    "preview_from_events",
    "preview_from_json",
    "redact_compose",
    "stack_of",
    "summarize",
]
