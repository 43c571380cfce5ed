"""Open an `ImageRef` as a source and sink: an OCI layout, an archive or a registry image."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from soci_ci.app.options import RegistryOptions
from soci_ci.oci.archive import open_archive
from soci_ci.oci.image_ref import ImageRef, Transport
from soci_ci.oci.layout import OciLayout

if TYPE_CHECKING:
    from soci_ci.registry.store import RegistryImage


@contextlib.contextmanager
def open_image(
    ref: ImageRef, registry: RegistryOptions | None = None
) -> Iterator[OciLayout | RegistryImage]:
    """The image as a source and sink: a layout, an unpacked archive or a registry image."""
    if ref.transport is Transport.OCI and ref.path is not None:
        yield OciLayout(ref.path, ref.tag)
    elif ref.transport is Transport.OCI_ARCHIVE and ref.path is not None:
        with open_archive(ref.path, ref.tag) as layout:
            yield layout
    else:
        yield open_registry_image(ref.raw, registry or RegistryOptions())


def open_registry_image(text: str, options: RegistryOptions) -> RegistryImage:
    # Imported here: `requests` is slow to import and only registry references need it.
    from soci_ci.registry.client import RegistryClient  # noqa: PLC0415
    from soci_ci.registry.credentials import ChainedCredentials  # noqa: PLC0415
    from soci_ci.registry.reference import parse_reference  # noqa: PLC0415
    from soci_ci.registry.retry import RetryPolicy  # noqa: PLC0415
    from soci_ci.registry.store import RegistryImage  # noqa: PLC0415
    from soci_ci.registry.transport import Transport as HttpTransport  # noqa: PLC0415

    reference = parse_reference(text)
    client = RegistryClient(
        reference.registry,
        credentials=ChainedCredentials(
            explicit=options.credentials(),
            explicit_host=options.credentials_host or reference.registry,
            docker=options.docker_logins(),
        ),
        transport=HttpTransport(
            plain_http=options.plain_http,
            ca_file=options.ca_file,
            insecure=options.insecure,
            read_timeout=options.timeout,
        ),
        retry=RetryPolicy(base=options.retry_base),
    )
    return RegistryImage(client, reference)
