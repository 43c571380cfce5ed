"""`RegistryImage` as ImageSource + ImageSink over an in-memory fake registry (no sockets)."""

from __future__ import annotations

import hashlib
import re

import requests

from soci_ci.registry.reference import parse_reference
from soci_ci.registry.store import RegistryImage
from tests.support.registry_fake import Reply, client_for

OCI_M = "application/vnd.oci.image.manifest.v1+json"
OCI_I = "application/vnd.oci.image.index.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class MemoryRegistry:
    """Just enough of the distribution API: manifests by tag/digest, HEAD, PUT."""

    def __init__(self, *, referrers_api: bool = False) -> None:
        self.manifests: dict[str, tuple[bytes, str]] = {}
        self.tags: dict[str, str] = {}
        self.puts: list[str] = []
        self.referrers_api = referrers_api

    def __call__(self, request: requests.PreparedRequest) -> Reply:
        listing = re.search(r"/v2/team/app/referrers/(.+)$", str(request.url))
        if listing:
            if not self.referrers_api:
                return Reply(404)
            body = b'{"schemaVersion":2,"mediaType":"' + OCI_I.encode() + b'","manifests":[]}'
            return Reply(200, body, {"Content-Type": OCI_I})
        match = re.search(r"/v2/team/app/manifests/(.+)$", str(request.url))
        assert match, request.url
        ref = match.group(1)
        if request.method == "PUT":
            assert isinstance(request.body, bytes)
            body = request.body
            digest = digest_of(body)
            self.manifests[digest] = (body, request.headers["Content-Type"])
            if not ref.startswith("sha256:"):
                self.tags[ref] = digest
            self.puts.append(ref)
            headers = {"Docker-Content-Digest": digest}
            if self.referrers_api:
                headers["OCI-Subject"] = "sha256:" + "0" * 64
            return Reply(201, headers=headers)
        digest = self.tags.get(ref, ref)
        if digest not in self.manifests:
            return Reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        body, media_type = self.manifests[digest]
        return Reply(200, b"" if request.method == "HEAD" else body, {"Content-Type": media_type})


def image(fake: MemoryRegistry, text: str = "reg.example/team/app:1") -> RegistryImage:
    client, _, _ = client_for(fake)
    return RegistryImage(client, parse_reference(text))


def test_resolve_and_tag_only_when_it_changes() -> None:
    fake = MemoryRegistry()
    manifest = b'{"schemaVersion":2,"mediaType":"' + OCI_M.encode() + b'"}'
    fake.manifests[digest_of(manifest)] = (manifest, OCI_M)
    fake.tags["1"] = digest_of(manifest)
    store = image(fake)
    resolved = store.resolve()
    assert (resolved.data, resolved.digest, resolved.media_type) == (
        manifest,
        digest_of(manifest),
        OCI_M,
    )
    index = b'{"schemaVersion":2,"mediaType":"' + OCI_I.encode() + b'","manifests":[]}'
    store.push_manifest(index, OCI_I, digest_of(index))
    assert store.has_manifest(digest_of(index))
    assert store.tag("1-soci", index, OCI_I, digest_of(index)) is True
    assert store.tag("1-soci", index, OCI_I, digest_of(index)) is False  # already there
    assert fake.puts == [digest_of(index), "1-soci"]
    assert fake.tags == {"1": digest_of(manifest), "1-soci": digest_of(index)}
    assert store.read_tag("nope") is None


def test_referrers_fallback_tag_is_skipped_when_the_registry_indexes_subjects() -> None:
    fake = MemoryRegistry(referrers_api=True)
    store = image(fake)
    soci_index = b'{"schemaVersion":2,"mediaType":"' + OCI_M.encode() + b'"}'
    store.push_manifest(soci_index, OCI_M, digest_of(soci_index))
    fallback = "sha256-" + "ab" * 32
    assert store.tag(fallback, b"{}", OCI_I, digest_of(b"{}")) is False
    assert fake.puts == [digest_of(soci_index)]
    without_api = MemoryRegistry()
    assert image(without_api).tag(fallback, b"{}", OCI_I, digest_of(b"{}")) is True
    assert without_api.tags == {fallback: digest_of(b"{}")}


def test_referrers_are_read_from_the_api_when_present_else_from_the_fallback_tag() -> None:
    fallback = "sha256-" + "cd" * 32
    with_api = image(MemoryRegistry(referrers_api=True)).read_tag(fallback)
    assert with_api is not None and b'"manifests":[]' in with_api.data
    without_api = MemoryRegistry()
    assert image(without_api).read_tag(fallback) is None
    listing = b'{"schemaVersion":2,"mediaType":"' + OCI_I.encode() + b'","manifests":[{}]}'
    without_api.manifests[digest_of(listing)] = (listing, OCI_I)
    without_api.tags[fallback] = digest_of(listing)
    found = image(without_api).read_tag(fallback)
    assert found is not None and found.data == listing
