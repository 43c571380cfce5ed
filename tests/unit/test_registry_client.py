"""The registry client against an in-process fake registry mounted as a `requests` adapter
(no sockets): retries, Retry-After, auth, monolithic uploads, mounts, resumed downloads."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from soci_ci.errors import RegistryError
from soci_ci.registry.auth import Credentials
from soci_ci.registry.client import RegistryClient
from tests.support.registry_fake import Reply, client_for, script

BLOB = bytes(range(256)) * 4096  # 1 MiB
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
SECRET = "hunter2-secret"


def test_temporary_failures_are_retried_with_backoff_and_retry_after() -> None:
    manifest = b'{"schemaVersion":2}'
    client, fake, sleeps = client_for(
        script(
            Reply(500),
            Reply(429, headers={"Retry-After": "3"}),
            Reply(200, manifest, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}),
        )
    )
    fetched = client.get_manifest("team/app", "1.0")
    assert (fetched.data, fetched.media_type) == (
        manifest,
        "application/vnd.oci.image.manifest.v1+json",
    )
    assert sleeps == [1.0, 3.0]
    assert [(m, u) for m, u, _ in fake.seen] == [
        ("GET", "https://reg.example/v2/team/app/manifests/1.0")
    ] * 3


def test_permanent_failure_is_a_registry_error_with_oci_codes() -> None:
    body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})
    client, _, sleeps = client_for(script(Reply(404, body.encode())))
    with pytest.raises(RegistryError) as info:
        client.get_manifest("team/app", "nope")
    err = info.value
    assert str(err) == (
        "reg.example/team/app: fetch manifest nope failed: HTTP 404 MANIFEST_UNKNOWN: "
        "manifest unknown"
    )
    assert (err.status, err.codes, err.temporary, sleeps) == (404, ("MANIFEST_UNKNOWN",), False, [])
    assert "repository must exist" in err.hint


def test_retries_give_up_with_a_temporary_error() -> None:
    client, _, sleeps = client_for(lambda request: Reply(503))
    with pytest.raises(RegistryError) as info:
        client.has_blob("r", DIGEST)
    assert info.value.temporary and info.value.status == 503
    assert sleeps == [1.0, 2.0, 4.0]


def test_basic_challenge_then_success_and_no_secret_in_errors() -> None:
    creds = Credentials(username="ci", password=SECRET, source="test")

    def handler(request: requests.PreparedRequest) -> Reply:
        if "Authorization" not in request.headers:
            return Reply(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return Reply(403, b'{"errors":[{"code":"DENIED","message":"requested access denied"}]}')

    client, fake, _ = client_for(handler, creds=creds)
    with pytest.raises(RegistryError) as info:
        client.upload_blob("team/app", DIGEST, BLOB)
    text = f"{info.value} {info.value.hint}"
    assert text.startswith("reg.example/team/app: start upload of sha256:")
    assert "HTTP 403 DENIED" in text and "push permission" in text
    assert SECRET not in text
    assert fake.seen[1][2]["Authorization"].startswith("Basic ")


def test_a_challenge_answered_by_another_thread_meanwhile_is_retried() -> None:
    """Concurrent first requests all get 401; the ones answered second must retry, not fail."""
    creds = Credentials(username="ci", password=SECRET, source="test")
    client: RegistryClient | None = None

    def handler(request: requests.PreparedRequest) -> Reply:
        if "Authorization" in request.headers:
            return Reply(200)
        assert client is not None  # another thread answers the challenge while this 401 travels
        client.auth.answer('Basic realm="r"', "team/app", push=False)
        return Reply(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    client, fake, _ = client_for(handler, creds=creds)
    assert client.has_blob("team/app", DIGEST)
    assert [("Authorization" in headers) for _, _, headers in fake.seen] == [False, True]


def test_monolithic_upload_and_cross_repository_mount() -> None:
    def handler(request: requests.PreparedRequest) -> Reply:
        if request.method == "POST" and "mount=" in str(request.url):
            return Reply(202, headers={"Location": "/v2/dst/blobs/uploads/u1?_state=x"})
        if request.method == "POST":
            return Reply(202, headers={"Location": "https://reg.example/v2/dst/blobs/uploads/u2"})
        assert request.body == BLOB
        return Reply(201)

    client, fake, _ = client_for(handler)
    client.upload_blob("dst", DIGEST, BLOB, mount_from="src")
    client.upload_blob("dst", DIGEST, BLOB)
    assert [(m, u) for m, u, _ in fake.seen] == [
        (
            "POST",
            f"https://reg.example/v2/dst/blobs/uploads/?mount={DIGEST.replace(':', '%3A')}&from=src",
        ),
        (
            "PUT",
            f"https://reg.example/v2/dst/blobs/uploads/u1?_state=x&digest={DIGEST.replace(':', '%3A')}",
        ),
        ("POST", "https://reg.example/v2/dst/blobs/uploads/"),
        ("PUT", f"https://reg.example/v2/dst/blobs/uploads/u2?digest={DIGEST.replace(':', '%3A')}"),
    ]
    mounted, fake2, _ = client_for(script(Reply(201)))
    mounted.upload_blob("dst", DIGEST, BLOB, mount_from="src")
    assert len(fake2.seen) == 1  # mounted: nothing sent


def test_download_resumes_with_range_after_a_reset() -> None:
    def handler(request: requests.PreparedRequest) -> Reply:
        rng = request.headers.get("Range")
        if rng is None:
            return Reply(200, BLOB, cut_after=300_000)
        start = int(rng.removeprefix("bytes=").rstrip("-"))
        return Reply(206, BLOB[start:])

    client, fake, sleeps = client_for(handler)
    with client.open_blob("r", DIGEST, len(BLOB)) as stream:
        out = bytearray()
        while chunk := stream.read(100_000):
            out += chunk
    assert bytes(out) == BLOB
    assert [h.get("Range") for _, _, h in fake.seen] == [None, "bytes=300000-"]
    assert sleeps == [1.0]


def test_download_from_a_server_ignoring_range_and_a_corrupt_blob() -> None:
    replies = iter([Reply(200, BLOB, cut_after=500_000), Reply(200, BLOB)])
    client, _, _ = client_for(lambda request: next(replies))
    assert client.open_blob("r", DIGEST, len(BLOB)).read() == BLOB
    bad = BLOB[:-1] + b"\x00"
    client, _, _ = client_for(lambda request: Reply(200, bad))
    with pytest.raises(RegistryError, match="arrived with digest"):
        client.open_blob("r", DIGEST, len(BLOB)).read()


def test_range_read_and_manifest_push() -> None:
    def handler(request: requests.PreparedRequest) -> Reply:
        if request.method == "GET":
            assert request.headers["Range"] == "bytes=10-19"
            return Reply(206, BLOB[10:20])
        assert request.headers["Content-Type"] == "application/vnd.oci.image.index.v1+json"
        return Reply(201, headers={"OCI-Subject": DIGEST})

    client, _, _ = client_for(handler)
    assert client.read_range("r", DIGEST, 10, 20) == BLOB[10:20]
    client.put_manifest("r", "t", b"{}", "application/vnd.oci.image.index.v1+json")
    assert client.supports_subject is True


def test_tag_listing_follows_link_pages() -> None:
    replies = iter(
        [
            Reply(200, b'{"tags":["a","b"]}', {"Link": '</v2/r/tags/list?n=2&last=b>; rel="next"'}),
            Reply(200, b'{"tags":["c"]}'),
        ]
    )
    client, fake, _ = client_for(lambda request: next(replies))
    assert client.list_tags("r") == ["a", "b", "c"]
    assert fake.seen[1][1] == "https://reg.example/v2/r/tags/list?n=2&last=b"
