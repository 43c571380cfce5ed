"""The one Markdown escaper, marker and size limit (soci_ci.report.comment)."""

from __future__ import annotations

import pytest

from soci_ci.report.comment import LIMIT, TRUNCATED, comment_marker, fit, md_code, md_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # HTML is escaped; pipes cannot split a table cell
        ("feat/<script>|x", "feat/&lt;script&gt;&#124;x"),
        ("<!-- soci-ci report: o/r (default) -->", "&lt;!-- soci-ci report: o/r (default) --&gt;"),
        ("a & b", "a &amp; b"),
        # one line
        ("a\nb\r\n  c", "a b c"),
        # Markdown punctuation: no links, images, emphasis or code spans of the author's
        ("[x](y) ![i](j)", "\\[x\\](y) !\\[i\\](j)"),
        ("*b* _i_ ~s~ `c`", "\\*b\\* \\_i\\_ \\~s\\~ \\`c\\`"),
        ("# heading", "\\# heading"),
        ("- item", "\\- item"),
        # mentions, references and bare URLs end up in code spans
        ("ping @octocat and @org/team", "ping `@octocat` and `@org/team`"),
        ("fixes #12, owner/repo#3 and GH-4", "fixes `#12`, `owner/repo#3` and `GH-4`"),
        (
            "see https://evil.example/x?a=1 or www.evil.example",
            "see `https://evil.example/x?a=1` or `www.evil.example`",
        ),
        ("mail me@evil.example", "mail `me@evil.example`"),
        ("x&#12 is not an entity", "x&amp;`#12` is not an entity"),
        # a URL cannot smuggle a backtick or a pipe out of its code span
        ("http://e.example/a`b|c", "`http://e.example/a`\\`b&#124;c"),
        # ordinary text and references as we print them stay readable
        ("pushed 127.0.0.1:5000/e2e/pr@sha256:ab", "pushed 127.0.0.1:5000/e2e/pr@sha256:ab"),
        ("indexed: 2 zTOC(s), 0 layer(s) skipped", "indexed: 2 zTOC(s), 0 layer(s) skipped"),
    ],
)
def test_md_text(text: str, expected: str) -> None:
    assert md_text(text) == expected


def test_code_spans_cannot_be_closed_early() -> None:
    assert md_code("a`b|c\nd") == "`a'b&#124;c d`"


def test_marker_is_one_line_and_cannot_close_the_comment() -> None:
    assert comment_marker("octo-org/app") == "<!-- soci-ci report: octo-org/app (default) -->"
    assert comment_marker(None, "x --> <b>") == "<!-- soci-ci report: local (x_--_b_) -->"


def test_fit_keeps_head_and_tail_under_the_limit() -> None:
    head, tail = ["# head"], ["<!-- marker -->"]
    small = fit(head, ["a", "b"], tail)
    assert small == "# head\na\nb\n<!-- marker -->\n"
    big = fit(head, ["x" * 100] * 1000, tail)
    assert len(big) <= LIMIT
    assert big.startswith("# head\nxxx")
    assert big.endswith(f"\n\n{TRUNCATED}\n<!-- marker -->\n")
