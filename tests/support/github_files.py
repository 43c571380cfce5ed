"""Reading what a step wrote to GitHub's file commands (`GITHUB_OUTPUT`), as the runner does."""

from __future__ import annotations


def parse_outputs(text: str) -> dict[str, str]:
    """`name<<DELIMITER` ... `DELIMITER` blocks (the only form soci-ci writes) to a dict."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, delimiter = line.split("<<", 1)
        value = []
        for item in lines:
            if item == delimiter:
                break
            value.append(item)
        out[name] = "\n".join(value)
    return out
