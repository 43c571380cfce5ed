"""An image in a registry as an `ImageSource` + `ImageSink` (the same plan as an OCI layout)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import BinaryIO, cast

from soci_ci.errors import RegistryError
from soci_ci.oci.manifest import detect_media_type
from soci_ci.oci.referrers import subject_of_tag
from soci_ci.oci.store import Fetched
from soci_ci.registry.client import RegistryClient
from soci_ci.registry.reference import Reference


class RegistryImage:
    def __init__(self, client: RegistryClient, ref: Reference) -> None:
        self.client = client
        self.ref = ref
        self.repo = ref.repository

    @property
    def display_name(self) -> str:
        return str(self.ref)

    # -- ImageSource --------------------------------------------------------------------
    def resolve(self) -> Fetched:
        fetched = self.client.get_manifest(self.repo, self.ref.reference)
        if self.ref.digest and fetched.digest != self.ref.digest:
            raise RegistryError(f"{self.ref}: the registry returned a different manifest")
        return Fetched(
            data=fetched.data,
            media_type=detect_media_type(fetched.data, fetched.media_type),
            digest=fetched.digest,
        )

    def fetch_manifest(self, digest: str) -> Fetched:
        fetched = self.client.get_manifest(self.repo, digest)
        return Fetched(
            data=fetched.data,
            media_type=detect_media_type(fetched.data, fetched.media_type),
            digest=fetched.digest,
        )

    def open_blob(self, digest: str, size: int) -> AbstractContextManager[BinaryIO]:
        return cast(
            AbstractContextManager[BinaryIO], self.client.open_blob(self.repo, digest, size)
        )

    def read_blob_range(self, digest: str, start: int, end: int) -> bytes:
        return self.client.read_range(self.repo, digest, start, end)

    def read_tag(self, tag: str) -> Fetched | None:
        """A tag's manifest; for a referrers tag (`sha256-<hex>`) the referrers API answer
        when the registry has the API, else the fallback tag of the OCI tag schema."""
        subject = subject_of_tag(tag)
        if subject is not None:
            listed = self.client.referrers(self.repo, subject)
            if listed is not None:
                self.client.supports_subject = True
                return listed
        if not self.client.has_manifest(self.repo, tag):
            return None
        return self.fetch_manifest_by_tag(tag)

    def fetch_manifest_by_tag(self, tag: str) -> Fetched:
        fetched = self.client.get_manifest(self.repo, tag)
        return Fetched(
            data=fetched.data,
            media_type=detect_media_type(fetched.data, fetched.media_type),
            digest=fetched.digest,
        )

    # -- ImageSink ----------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self.client.has_blob(self.repo, digest)

    def push_blob(self, digest: str, data: bytes) -> None:
        self.client.upload_blob(self.repo, digest, data)

    def has_manifest(self, digest: str) -> bool:
        return self.client.has_manifest(self.repo, digest)

    def push_manifest(self, data: bytes, media_type: str, digest: str) -> None:
        self.client.put_manifest(self.repo, digest, data, media_type)

    def tag(self, tag: str, data: bytes, media_type: str, digest: str) -> bool:
        if subject_of_tag(tag) is not None and self.client.supports_subject:
            return False  # the registry indexes `subject` itself (referrers API)
        current = self.read_tag(tag)
        if current is not None and current.digest == digest:
            return False
        self.client.put_manifest(self.repo, tag, data, media_type)
        return True
