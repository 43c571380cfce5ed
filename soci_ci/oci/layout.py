"""An OCI image layout directory (`oci:DIR[:TAG]`) as an image source and sink.

Tags live in `index.json` as `org.opencontainers.image.ref.name` annotations, as skopeo,
buildx (`--output type=oci`) and `soci convert --standalone` write them. Blobs are written
atomically (temp file + rename) and `index.json` last, so an interrupted run leaves at most
unreferenced blobs, never a tag pointing at something missing.

The directory's content is untrusted: every file is opened through `local_file.open_inside`
(a regular file whose resolved path is inside the layout; no FIFOs, devices or symlinks out),
blobs must have the size their descriptor gives, `index.json` and manifests are read only up
to `limits.MAX_LAYOUT_JSON`, and blobs are written only where the resolved `blobs/` directory
is inside the layout.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from soci_ci import limits
from soci_ci.errors import InputError
from soci_ci.oci import media_types as mt
from soci_ci.oci.atomic_file import write_atomic
from soci_ci.oci.digest import check_digest, verify_content
from soci_ci.oci.local_file import inside, open_inside, read_limited
from soci_ci.oci.manifest import Descriptor, Index, detect_media_type, load_json
from soci_ci.oci.store import Fetched

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"


class OciLayout:
    """`ImageSource` + `ImageSink` over a layout directory."""

    def __init__(self, root: Path, tag: str | None, *, create: bool = False) -> None:
        self.root = root
        self.tag_name = tag
        self._json_left = limits.MAX_LAYOUT_JSON_TOTAL
        if not (root / LAYOUT_FILE).is_file():
            if not create:
                raise InputError(
                    f"{root} is not an OCI image layout (no {LAYOUT_FILE} file)",
                    hint="export one with `skopeo copy docker://IMAGE oci:DIR:TAG` or "
                    "`docker buildx build --output type=oci,tar=false,dest=DIR`",
                )
            root.mkdir(parents=True, exist_ok=True)
            write_atomic(root / LAYOUT_FILE, b'{"imageLayoutVersion":"1.0.0"}')
            write_atomic(root / INDEX_FILE, Index(manifests=()).to_json())

    @property
    def display_name(self) -> str:
        return f"oci:{self.root}" + (f":{self.tag_name}" if self.tag_name else "")

    # -- index.json ---------------------------------------------------------------------
    def read_index(self) -> Index:
        path = self.root / INDEX_FILE
        try:
            with open_inside(self.root, path, INDEX_FILE) as fh:
                data = self._charge(read_limited(fh, limits.MAX_LAYOUT_JSON, str(path)))
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from None
        return Index.from_json(load_json(data, f"{self.root / INDEX_FILE}"), "index.json")

    def _charge(self, data: bytes) -> bytes:
        """Count a JSON document against the run's total for this layout."""
        self._json_left -= len(data)
        if self._json_left < 0:
            raise InputError(
                f"{self.root}: more than {limits.MAX_LAYOUT_JSON_TOTAL >> 20} MiB of manifests "
                "and indexes read in one run; refused"
            )
        return data

    def tags(self) -> dict[str, Descriptor]:
        found = {}
        for desc in self.read_index().manifests or ():
            name = desc.annotation(mt.ANNOTATION_REF_NAME)
            if name:
                found[name] = desc
        return found

    def _root_descriptor(self) -> Descriptor:
        index = self.read_index()
        entries = list(index.manifests or ())
        if self.tag_name is None:
            if len(entries) == 1:
                return entries[0]
            names = sorted(self.tags())
            raise InputError(
                f"{self.root} holds {len(entries)} images; name one as oci:DIR:TAG "
                f"(tags: {', '.join(names) or 'none'})"
            )
        for desc in entries:
            if desc.annotation(mt.ANNOTATION_REF_NAME) == self.tag_name:
                return desc
        raise InputError(
            f"tag {self.tag_name!r} not found in {self.root} "
            f"(tags: {', '.join(sorted(self.tags())) or 'none'})"
        )

    # -- ImageSource --------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        algo, _, hexpart = check_digest(digest).partition(":")
        return self.root / "blobs" / algo / hexpart

    def resolve(self) -> Fetched:
        desc = self._root_descriptor()
        fetched = self.fetch_manifest(desc.digest)
        return Fetched(
            data=fetched.data, media_type=desc.media_type or fetched.media_type, digest=desc.digest
        )

    def fetch_manifest(self, digest: str) -> Fetched:
        path = self.blob_path(digest)
        try:
            with open_inside(self.root, path, f"manifest {digest}") as fh:
                data = self._charge(read_limited(fh, limits.MAX_LAYOUT_JSON, f"manifest {digest}"))
        except OSError as exc:
            raise InputError(f"cannot read manifest {digest}: {exc.strerror}") from None
        verify_content(data, digest, what=f"manifest blob {path}")
        return Fetched(data=data, media_type=detect_media_type(data, None), digest=digest)

    def open_blob(self, digest: str, size: int) -> contextlib.AbstractContextManager[BinaryIO]:
        return self._open_blob(digest, size)

    @contextlib.contextmanager
    def _open_blob(self, digest: str, size: int) -> Iterator[BinaryIO]:
        fh = open_inside(self.root, self.blob_path(digest), f"blob {digest}")
        with fh:
            actual = os.fstat(fh.fileno()).st_size
            if actual != size:
                raise InputError(
                    f"blob {digest} in {self.root} has {actual} bytes, expected {size}"
                )
            yield fh

    def check_blob_size(self, digest: str, size: int) -> None:
        """Raise as `open_blob` does when the blob is not `size` bytes (read by ranges only)."""
        with self._open_blob(digest, size):
            pass

    def read_blob_range(self, digest: str, start: int, end: int) -> bytes:
        with open_inside(self.root, self.blob_path(digest), f"blob {digest}") as fh:
            size = os.fstat(fh.fileno()).st_size
            if not 0 <= start <= end <= size:
                raise InputError(
                    f"range [{start}, {end}) is outside blob {digest} ({size} bytes) in {self.root}"
                )
            fh.seek(start)
            return fh.read(end - start)

    # -- ImageSink ----------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        path = self.blob_path(digest)
        return path.is_file() and not path.is_symlink() and bool(inside(self.root, path))

    def push_blob(self, digest: str, data: bytes) -> None:
        verify_content(data, digest, what="blob to write")
        path = self.blob_path(digest)
        inside(self.root, path.parent)  # before mkdir: nothing is created through a link out
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {path.parent}: {exc.strerror}") from None
        write_atomic(path, data)

    def has_manifest(self, digest: str) -> bool:
        return self.has_blob(digest)

    def push_manifest(self, data: bytes, media_type: str, digest: str) -> None:
        self.push_blob(digest, data)

    def read_tag(self, tag: str) -> Fetched | None:
        desc = self.tags().get(tag)
        return self.fetch_manifest(desc.digest) if desc is not None else None

    def tag(self, tag: str, data: bytes, media_type: str, digest: str) -> bool:
        """Point `tag` at the manifest/index; return False when it already did."""
        index = self.read_index()
        kept = []
        for desc in index.manifests or ():
            if desc.annotation(mt.ANNOTATION_REF_NAME) == tag:
                if desc.digest == digest:
                    return False
                continue
            kept.append(desc)
        kept.append(
            Descriptor(
                media_type=media_type,
                digest=digest,
                size=len(data),
                annotations={mt.ANNOTATION_REF_NAME: tag},
            )
        )
        new_index = Index(
            schema_version=2,
            media_type=mt.OCI_INDEX,
            manifests=tuple(kept),
            annotations=index.annotations,
        )
        write_atomic(self.root / INDEX_FILE, new_index.to_json())
        return True
