"""Platforms, normalised, parsed and matched as containerd's `platforms` package does.

`soci convert` writes and compares platforms through containerd (`platforms` v1.0.0-rc.4,
the version soci v0.15 pins): the platform of a single-manifest image is
`platforms.Normalize` of its config's platform (containerd `images.ConfigPlatform`), a
`--platform` flag goes through `platforms.Parse`, and entries are matched with
`platforms.OnlyStrict`. The rules (containerd `database.go: normalizeArch/normalizeOS`):

- the OS is lower-cased, `macos` -> `darwin`, an empty OS is the host's (`linux`: soci-ci
  runs on Linux);
- `i386` -> `386` (no variant); `x86_64`/`x86-64` -> `amd64`, variant `v1` dropped;
- `aarch64` -> `arm64`; arm64 variants `8`/`v8`/`v8.0` dropped, `9`/`9.0`/`v9.0` -> `v9`;
- `armhf` -> `arm/v7`, `armel` -> `arm/v6`; `arm` with no variant or `7` -> `v7`,
  `5`/`6`/`8` -> `v5`/`v6`/`v8`;
- architecture and variant are lower-cased; `os.features` sorted and de-duplicated.

`Parse` keeps two quirks: `linux/arm64/v8` keeps `v8` (a three-part specifier with an arm64
variant that normalises away gets it back) and `linux/arm` has no variant (the default `v7`
is dropped). Matching normalises both sides and compares OS, architecture and variant exactly
(an arm64 entry written `arm64/v8` matches `linux/arm64`; `arm/v6` does not match `arm`).
Vectors: tests/data/vectors/platform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from soci_ci.errors import InputError
from soci_ci.oci.gojson import Ordered

_SPECIFIER = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    architecture: str
    os: str
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    variant: str | None = None

    @classmethod
    def from_json(cls, obj: Any, what: str = "platform") -> Platform:
        if not isinstance(obj, dict):
            raise InputError(f"{what} must be an object")
        features = obj.get("os.features") or ()
        if not isinstance(features, list | tuple) or not all(isinstance(f, str) for f in features):
            raise InputError(f"{what}: 'os.features' must be a list of strings")
        return cls(
            architecture=_str(obj, "architecture", what),
            os=_str(obj, "os", what),
            os_version=_str(obj, "os.version", what) or None,
            os_features=tuple(features),
            variant=_str(obj, "variant", what) or None,
        )

    @classmethod
    def parse(cls, text: str) -> Platform:
        """`os/arch[/variant]` (`--platform linux/arm64/v8`), as containerd `platforms.Parse`."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(_SPECIFIER.match(p) for p in parts):
            raise InputError(f"invalid platform {text!r}: expected os/arch[/variant]")
        os_name = normalize_os(parts[0])
        if len(parts) == 2:
            arch, variant = normalize_arch(parts[1], "")
            if arch == "arm" and variant == "v7":
                variant = ""
        else:
            arch, variant = normalize_arch(parts[1], parts[2])
            if arch == "arm64" and not variant:
                variant = "v8"
        return cls(os=os_name, architecture=arch, variant=variant or None)

    def normalized(self) -> Platform:
        """containerd `platforms.Normalize`."""
        arch, variant = normalize_arch(self.architecture, self.variant or "")
        return replace(
            self,
            os=normalize_os(self.os),
            architecture=arch,
            variant=variant or None,
            os_features=tuple(sorted(set(self.os_features))),
        )

    def matches(self, wanted: Platform) -> bool:
        """Does this (an image's) platform match `wanted`, as `platforms.OnlyStrict(wanted)`?"""
        have, want = self.normalized(), wanted.normalized()
        if (have.os, have.architecture, have.variant) != (want.os, want.architecture, want.variant):
            return False
        return set(have.os_features) <= set(want.os_features)

    def go(self) -> Ordered:
        return Ordered(
            ("architecture", self.architecture),
            ("os", self.os),
            ("os.version", self.os_version or None),
            ("os.features", list(self.os_features) or None),
            ("variant", self.variant or None),
        )

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def _str(obj: dict[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{what}: {key!r} must be a string")
    return value


def normalize_os(name: str) -> str:
    if not name:
        return "linux"  # containerd: runtime.GOOS
    name = name.lower()
    return "darwin" if name == "macos" else name


def normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd `normalizeArch`."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return arch, variant
