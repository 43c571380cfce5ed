"""Image references: one split of name, tag and digest, shared by every parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from soci_ci.build.spec import split_tag
from soci_ci.oci.image_ref import Transport, parse_image_ref, split_reference
from soci_ci.registry.reference import parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("app", ("app", None, None)),
        ("app:1", ("app", "1", None)),
        ("127.0.0.1:5000/team/app", ("127.0.0.1:5000/team/app", None, None)),
        ("127.0.0.1:5000/team/app:v1", ("127.0.0.1:5000/team/app", "v1", None)),
        (f"reg.example/app@{DIGEST}", ("reg.example/app", None, DIGEST)),
        (f"reg.example:443/app:1@{DIGEST}", ("reg.example:443/app", "1", DIGEST)),
    ],
)
def test_a_tags_colon_comes_after_the_last_slash(
    text: str, parts: tuple[str, str | None, str | None]
) -> None:
    assert split_reference(text) == parts
    ref = parse_image_ref(f"docker://{text}")
    assert (ref.transport, ref.repository, ref.tag, ref.digest) == (Transport.DOCKER, *parts)
    assert parse_reference(text).tag == parts[1]
    if parts[2] is None:
        assert split_tag(text) == (parts[0], parts[1] or "latest")


def test_layouts_and_archives_keep_their_path() -> None:
    assert parse_image_ref("oci:/tmp/img:v1").path == Path("/tmp/img")
    assert parse_image_ref("oci:/tmp/img:v1").tag == "v1"
    assert parse_image_ref("oci-archive:./a.tar").tag is None
    assert parse_image_ref(f"reg.example/app@{DIGEST}").at("sha256:1") == "reg.example/app@sha256:1"
