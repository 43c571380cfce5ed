"""The xattr optimization's rule, in one place (`--optimizations xattr`, ``soci.optimizations``).

soci marks a layer's zTOC descriptor with ``com.amazon.soci.disable-xattrs: "true"`` when no
file of the layer has an extended attribute (a ``SCHILY.xattr.*`` PAX record) and no
directory is an opaque whiteout (``.wh..wh..opq``, which the snapshotter needs an xattr for):
the snapshotter then skips xattr lookups. The build decides it from the TOC it just read;
a rerun decides it again from the zTOC it finds, with this same function.
"""

from __future__ import annotations

from collections.abc import Iterable

from soci_ci.soci.tar_toc import FileMetadata

XATTR_PAX_PREFIX = b"SCHILY.xattr."
OPAQUE_WHITEOUT = b".wh..wh..opq"


def xattrs_can_be_disabled(entries: Iterable[FileMetadata]) -> bool:
    """True when no entry has an xattr and none is an opaque whiteout."""
    return not any(
        entry.name.endswith(OPAQUE_WHITEOUT)
        or any(key.startswith(XATTR_PAX_PREFIX) for key, _ in entry.xattrs)
        for entry in entries
    )
