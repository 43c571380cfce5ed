"""Open an image reference as a source and sink.

`oci:DIR[:TAG]` (an OCI layout), `oci-archive:FILE[:TAG]`, and registry references
(`docker://REF` or a plain `registry/repo[:tag][@digest]`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from soci_ci.errors import UsageError
from soci_ci.oci.archive import open_archive
from soci_ci.oci.layout import OciLayout

if TYPE_CHECKING:
    from soci_ci.registry.store import RegistryImage


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRef:
    transport: str  # "oci" | "oci-archive" | "docker"
    path: Path | None
    tag: str | None
    raw: str


def parse_image_ref(text: str) -> ImageRef:
    """`oci:DIR[:TAG]` and `oci-archive:FILE[:TAG]` (the tag is after the last colon)."""
    for transport in ("oci-archive", "oci"):
        prefix = transport + ":"
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            path, sep, tag = rest.rpartition(":")
            if not sep or "/" in tag:
                path, tag = rest, ""
            if not path:
                raise UsageError(f"missing path in {text!r} (expected {transport}:PATH[:TAG])")
            return ImageRef(transport=transport, path=Path(path), tag=tag or None, raw=text)
    return ImageRef(transport="docker", path=None, tag=None, raw=text.removeprefix("docker://"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryOptions:
    plain_http: bool = False
    ca_file: str | None = None
    insecure: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    credentials_host: str | None = None  # the one host username/password go to (--registry)
    timeout: float = 60.0
    retry_base: float = 0.5


@contextlib.contextmanager
def open_store(
    ref: ImageRef, registry: RegistryOptions | None = None
) -> Iterator[OciLayout | RegistryImage]:
    if ref.transport == "oci" and ref.path is not None:
        yield OciLayout(ref.path, ref.tag)
    elif ref.transport == "oci-archive" and ref.path is not None:
        with open_archive(ref.path, ref.tag) as layout:
            yield layout
    else:
        yield open_registry_image(ref.raw, registry or RegistryOptions())


def open_registry_image(text: str, options: RegistryOptions) -> RegistryImage:
    # Imported here: `requests` is slow to import and only registry references need it.
    from soci_ci.registry.auth import Credentials  # noqa: PLC0415
    from soci_ci.registry.client import RegistryClient  # noqa: PLC0415
    from soci_ci.registry.credentials import ChainedCredentials  # noqa: PLC0415
    from soci_ci.registry.reference import parse_reference  # noqa: PLC0415
    from soci_ci.registry.retry import RetryPolicy  # noqa: PLC0415
    from soci_ci.registry.store import RegistryImage  # noqa: PLC0415
    from soci_ci.registry.transport import Transport  # noqa: PLC0415

    reference = parse_reference(text)
    explicit = None
    if options.username is not None:
        explicit = Credentials(
            username=options.username,
            password=options.password or "",
            source="--username/--password",
        )
    client = RegistryClient(
        reference.registry,
        credentials=ChainedCredentials(
            explicit=explicit, explicit_host=options.credentials_host or reference.registry
        ),
        transport=Transport(
            plain_http=options.plain_http,
            ca_file=options.ca_file,
            insecure=options.insecure,
            read_timeout=options.timeout,
        ),
        retry=RetryPolicy(base=options.retry_base),
    )
    return RegistryImage(client, reference)
