"""containerd's platform rules (Normalize, Parse, OnlyStrict), one case per rule."""

from __future__ import annotations

import pytest

from soci_ci.errors import InputError
from soci_ci.oci.platform import Platform


def P(arch: str, variant: str | None = None, os: str = "linux") -> Platform:
    return Platform(architecture=arch, os=os, variant=variant)


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        (P("arm64", "v8"), P("arm64")),
        (P("arm64", "8"), P("arm64")),
        (P("arm64", "v8.0"), P("arm64")),
        (P("arm64", "9"), P("arm64", "v9")),
        (P("arm64", "v9.0"), P("arm64", "v9")),
        (P("aarch64"), P("arm64")),
        (P("arm"), P("arm", "v7")),
        (P("arm", "7"), P("arm", "v7")),
        (P("arm", "6"), P("arm", "v6")),
        (P("arm", "v5"), P("arm", "v5")),
        (P("armhf"), P("arm", "v7")),
        (P("armel"), P("arm", "v6")),
        (P("x86_64"), P("amd64")),
        (P("x86-64", "v2"), P("amd64", "v2")),
        (P("amd64", "v1"), P("amd64")),
        (P("i386", "whatever"), P("386")),
        (P("AMD64", os="Linux"), P("amd64")),
        (P("amd64", os="macos"), P("amd64", os="darwin")),
        (P("amd64", os=""), P("amd64")),
        (P("riscv64"), P("riscv64")),
    ],
)
def test_normalize(given: Platform, normalized: Platform) -> None:
    assert given.normalized() == normalized


def test_normalize_sorts_os_features() -> None:
    p = Platform(architecture="amd64", os="windows", os_features=("b", "a", "b"))
    assert p.normalized().os_features == ("a", "b")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("linux/arm64", P("arm64")),
        ("linux/arm64/v8", P("arm64", "v8")),  # Parse keeps v8 when it is spelled out
        ("linux/aarch64/8", P("arm64", "v8")),
        ("linux/arm", P("arm")),  # and drops the default v7 of a two-part arm
        ("linux/arm/v7", P("arm", "v7")),
        ("linux/armhf", P("arm")),
        ("Linux/X86_64", P("amd64")),
        ("linux/amd64/v3", P("amd64", "v3")),
    ],
)
def test_parse(text: str, parsed: Platform) -> None:
    assert Platform.parse(text) == parsed


@pytest.mark.parametrize("text", ["linux", "linux/", "a/b/c/d", "linux/amd64 x", "linux/*"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InputError):
        Platform.parse(text)


@pytest.mark.parametrize(
    ("entry", "flag", "match"),
    [
        (P("arm64", "v8"), "linux/arm64", True),
        (P("arm64"), "linux/arm64/v8", True),
        (P("arm64", "v9"), "linux/arm64", False),
        (P("arm", "v7"), "linux/arm", True),
        (P("arm"), "linux/arm/v7", True),
        (P("arm", "v6"), "linux/arm", False),
        (P("amd64", "v1"), "linux/amd64", True),
        (P("amd64", "v3"), "linux/amd64", False),
        (P("amd64"), "windows/amd64", False),
    ],
)
def test_strict_match(entry: Platform, flag: str, match: bool) -> None:
    assert entry.matches(Platform.parse(flag)) is match
