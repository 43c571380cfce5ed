"""Docker reference parsing and normalization."""

from __future__ import annotations

import pytest

from soci_ci.errors import UsageError
from soci_ci.registry.reference import Reference, parse_reference

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busybox", Reference(registry="registry-1.docker.io", repository="library/busybox")),
        (
            "docker://docker.io/org/app:1.2",
            Reference(registry="registry-1.docker.io", repository="org/app", tag="1.2"),
        ),
        (
            "127.0.0.1:5000/team/app:v1",
            Reference(registry="127.0.0.1:5000", repository="team/app", tag="v1"),
        ),
        (
            "localhost/app",
            Reference(registry="localhost", repository="app"),
        ),
        (
            f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/a/b/c:t@{D}",
            Reference(
                registry="123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                repository="a/b/c",
                tag="t",
                digest=D,
            ),
        ),
        (f"reg.example:443/x@{D}", Reference(registry="reg.example:443", repository="x", digest=D)),
    ],
)
def test_parse_reference(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


def test_reference_text_and_what_goes_after_manifests() -> None:
    ref = parse_reference(f"127.0.0.1:5000/team/app:v1@{D}")
    assert str(ref) == f"127.0.0.1:5000/team/app:v1@{D}"
    assert ref.reference == D
    assert parse_reference("127.0.0.1:5000/team/app").reference == "latest"
    assert str(ref.with_tag("v1-soci")) == "127.0.0.1:5000/team/app:v1-soci"


@pytest.mark.parametrize(
    "text", ["Team/App", "reg.example/app:bad tag", "reg.example/app@sha256:12", "reg.example/"]
)
def test_invalid_references_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_reference(text)
