"""What changed between two versions of a stream, line by line."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from streams.models import StreamVersion


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "context" or "hunk"
    text: str


@dataclass(frozen=True)
class PartDiff:
    part: str
    lines: list[DiffLine]

    @property
    def changed(self) -> bool:
        return any(line.kind in ("added", "removed") for line in self.lines)


def _kind(line: str) -> str:
    if line.startswith("@@"):
        return "hunk"
    return {"+": "added", "-": "removed"}.get(line[:1], "context")


def diff_versions(previous: StreamVersion | None, version: StreamVersion) -> list[PartDiff]:
    """Unified diffs of subject, HTML and text; against nothing for the first version."""
    parts = []
    for label, attribute in (("Subject", "subject"), ("HTML", "html_source"), ("Text", "text")):
        before = getattr(previous, attribute, "") if previous else ""
        after = getattr(version, attribute)
        lines = difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            fromfile=f"v{previous.number}" if previous else "(nothing)",
            tofile=f"v{version.number}",
            lineterm="",
            n=2,
        )
        # The two file header lines say nothing the page does not already show.
        body = [DiffLine(_kind(line), line) for line in list(lines)[2:]]
        parts.append(PartDiff(label, body))
    return parts
