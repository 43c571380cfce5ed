"""The rules every Markdown output follows: one escaper, one comment marker, one size limit.

Untrusted text (branch names, probe failure reasons, registry and API messages, image
metadata) goes through `md_text` before it reaches a comment or a job summary:

- it becomes one line; HTML is escaped (``<`` ``>`` ``&``), so no tag, comment or entity
  of the author's survives; ``|`` becomes ``&#124;`` so table cells hold;
- Markdown punctuation (``\\ ` * _ [ ] ~``, and ``# + - =`` first on the line) is
  backslash-escaped: no links, images, emphasis, headings or code spans of the author's;
- @mentions, #references (``#12``, ``owner/repo#12``, ``GH-12``), bare URLs
  (``https://...``, ``www.``) and e-mail addresses are put in code spans, where GitHub
  neither notifies, nor links, nor autolinks; those tokens never contain a backtick or ``|``.
"""

from __future__ import annotations

import re

LIMIT = 65_000  # GitHub's limit for a comment body is 65,536 characters; keep a margin
TRUNCATED = "_Report truncated: the full details are in the job log and JUnit file._"

_ESCAPE = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "|": "&#124;"}
_BACKSLASH = frozenset("\\`*_[]~")
_LINE_START = frozenset("#+-=")
_TOKEN = re.compile(
    r"(?P<url>(?i:\b(?:https?|ftp)://|\bwww\.)[^\s<>`|]+)"
    r"|(?P<email>\b[\w.+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+)"
    r"|(?P<mention>(?<![\w`])@[A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9._-]+)?)"
    r"|(?P<ref>\b[\w.-]+/[\w.-]+#\d+|(?<!\w)#\d+|\bGH-\d+\b)"
)
_MARKER_BAD = re.compile(r"[^A-Za-z0-9._/-]+")


def _plain(text: str) -> str:
    return "".join(_ESCAPE.get(ch) or ("\\" + ch if ch in _BACKSLASH else ch) for ch in text)


def md_text(text: str) -> str:
    """Untrusted ``text`` as inline Markdown that renders literally (see the module docstring)."""
    line = " ".join(str(text).split())
    out: list[str] = []
    last = 0
    for match in _TOKEN.finditer(line):
        out.append(_plain(line[last : match.start()]))
        out.append(f"`{match.group(0)}`")
        last = match.end()
    out.append(_plain(line[last:]))
    text = "".join(out)
    return "\\" + text if text[:1] in _LINE_START else text


def md_code(text: str) -> str:
    """``text`` (a digest, a reference) as one code span; backticks and pipes cannot break it."""
    line = " ".join(str(text).split()).replace("`", "'").replace("|", "&#124;")
    return f"`{line}`"


def comment_marker(repository: str | None, name: str = "default") -> str:
    """The hidden marker of the sticky comment: one per repository and config name."""
    repo = _MARKER_BAD.sub("_", repository or "local")
    return f"<!-- soci-ci report: {repo} ({_MARKER_BAD.sub('_', name)}) -->"


def fit(head: list[str], body: list[str], tail: list[str] | None = None) -> str:
    """Join the lines; past `LIMIT`, drop body lines from the end (head and tail stay)."""
    tail = tail or []
    text = "\n".join(head + body + tail) + "\n"
    if len(text) <= LIMIT:
        return text
    note = ["", TRUNCATED]
    fixed = "\n".join(head + note + tail) + "\n"
    room = LIMIT - len(fixed) - 1
    kept: list[str] = []
    used = 0
    for line in body:
        if used + len(line) + 1 > room:
            break
        kept.append(line)
        used += len(line) + 1
    if room < 0:
        return fixed[:LIMIT]
    return "\n".join(head + kept + note + tail) + "\n"
