"""Blob reads and uploads against hostile registries on loopback (real sockets): exactly the
descriptor's size, ranges with bounded memory when `Range` is ignored, and no credentials on a
cross-host upload `Location`."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest

from soci_ci.errors import RegistryError
from soci_ci.registry.auth import Credentials
from soci_ci.registry.client import RegistryClient
from soci_ci.registry.retry import RetryPolicy
from tests.servers.hostile_http import (
    Answer,
    HostileServer,
    Seen,
    ServerPool,
    pattern,
    pattern_bytes,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_minute")]
SECRET = "upl0ad-Secret-value"
CREDS = Credentials(username="ci", password=SECRET, source="test")
GiB = 1 << 30
BLOB = b"layer bytes " * 100
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


class Fixed:
    def get(self, host: str) -> Credentials | None:
        return CREDS


def client(server: HostileServer) -> RegistryClient:
    return RegistryClient(
        server.host,
        credentials=Fixed(),
        retry=RetryPolicy(attempts=2, base=0.0, sleep=lambda _s: None),
    )


def test_a_blob_longer_than_its_descriptor_is_an_error(serve: ServerPool) -> None:
    declared = serve(lambda s: Answer(200, {}, BLOB + b"more"))
    with pytest.raises(RegistryError, match="larger than its descriptor's 1200 bytes"):
        client(declared).open_blob("app", DIGEST, len(BLOB)).read(10)
    streamed = serve(lambda s: Answer(200, {}, iter([BLOB, b"trailing bytes"])))
    with (
        pytest.raises(RegistryError, match="more bytes sent"),
        client(streamed).open_blob("app", DIGEST, len(BLOB)) as blob,
    ):
        while blob.read(100):
            pass
    exact = serve(lambda s: Answer(200, {}, iter([BLOB[:7], BLOB[7:]])))
    with client(exact).open_blob("app", DIGEST, len(BLOB)) as blob:
        assert blob.read() == BLOB


def test_a_huge_declared_blob_is_never_read_whole(serve: ServerPool) -> None:
    # The descriptor says 8 GiB; only what the reader asks for is downloaded.
    server = serve(lambda s: Answer(200, {}, pattern(8 * GiB), content_length=8 * GiB))
    start = time.monotonic()
    with client(server).open_blob("app", "sha256:" + "0" * 64, 8 * GiB) as blob:
        assert blob.read(1000) == pattern_bytes(0, 1000)
    assert time.monotonic() - start < 10
    assert server.sent < 64 << 20


def test_range_reads_from_a_registry_ignoring_range_are_bounded(
    serve: ServerPool,
) -> None:
    size = 2 * GiB
    server = serve(lambda s: Answer(200, {}, pattern(size), content_length=size))
    start = time.monotonic()
    registry = client(server)
    assert registry.read_range("app", DIGEST, 10, 20) == pattern_bytes(10, 20)
    assert registry.read_range("app", DIGEST, 3 << 20, (3 << 20) + 5000) == pattern_bytes(
        3 << 20, (3 << 20) + 5000
    )
    assert time.monotonic() - start < 20
    # Each read stopped right after its range: far less than one blob was sent.
    assert server.sent < 32 << 20
    assert all(s.headers.get("Range") for s in server.seen)


def test_range_answers_that_do_not_match_the_request_are_errors(
    serve: ServerPool,
) -> None:
    wrong_start = serve(
        lambda s: Answer(206, {"Content-Range": "bytes 0-9/100"}, pattern_bytes(0, 10))
    )
    with pytest.raises(RegistryError, match="answered bytes from 0, asked from 10"):
        client(wrong_start).read_range("app", DIGEST, 10, 20)
    too_long = serve(lambda s: Answer(206, {}, [pattern_bytes(10, 30)]))
    with pytest.raises(RegistryError, match="more than the 10 bytes asked for"):
        client(too_long).read_range("app", DIGEST, 10, 20)
    short = serve(lambda s: Answer(206, {}, pattern_bytes(10, 15)))
    with pytest.raises(RegistryError, match="short range read"):
        client(short).read_range("app", DIGEST, 10, 20)
    with pytest.raises(RegistryError, match="more than the 64 MiB"):
        client(short).read_range("app", DIGEST, 0, 1 << 30)


def test_no_credentials_on_a_cross_host_upload_location(
    serve: ServerPool,
) -> None:
    elsewhere = serve(lambda s: Answer(201, {}), bind="127.0.0.2")

    def registry(seen: Seen) -> Answer:
        if seen.authorization is None:
            return Answer(401, {"WWW-Authenticate": 'Basic realm="r"'})
        return Answer(202, {"Location": f"{elsewhere.url}/upload/1?state=abc"})

    server = serve(registry)
    client(server).upload_blob("app", DIGEST, BLOB)
    assert [s.method for s in server.seen] == ["POST", "POST"]
    assert server.seen[1].authorization is not None
    assert [(s.method, s.authorization) for s in elsewhere.seen] == [("PUT", None)]


def test_same_origin_upload_location_keeps_credentials(
    serve: ServerPool,
) -> None:
    def registry(seen: Seen) -> Answer:
        if seen.authorization is None:
            return Answer(401, {"WWW-Authenticate": 'Basic realm="r"'})
        if seen.method == "POST":
            return Answer(202, {"Location": "/v2/app/blobs/uploads/1"})
        return Answer(201, {})

    server = serve(registry)
    client(server).upload_blob("app", DIGEST, BLOB)
    assert [(s.method, s.authorization is not None) for s in server.seen] == [
        ("POST", False),
        ("POST", True),
        ("PUT", True),
    ]


def test_tag_lists_do_not_follow_links_to_other_origins(
    serve: ServerPool,
) -> None:
    elsewhere = serve(lambda s: Answer(200, {}, b'{"tags":["x"]}'), bind="127.0.0.2")
    server = serve(
        lambda s: Answer(
            200, {"Link": f'<{elsewhere.url}/v2/app/tags/list?n=1>; rel="next"'}, b'{"tags":["a"]}'
        )
    )
    with pytest.raises(RegistryError, match="continues on another origin"):
        client(server).list_tags("app")
    assert elsewhere.seen == []


def trickle(seen: Seen) -> Answer:
    def drip() -> Iterator[bytes]:
        while True:
            time.sleep(0.2)
            yield b" "

    return Answer(200, {}, drip())


def test_a_trickling_manifest_is_cut_at_the_time_budget(
    serve: ServerPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import soci_ci.registry.client as client_module

    monkeypatch.setattr(client_module, "BODY_SECONDS_MAX", 2.0)
    server = serve(trickle)
    start = time.monotonic()
    with pytest.raises(RegistryError, match="took more than 2 s") as caught:
        client(server).get_manifest("app", "1")
    assert caught.value.temporary
    assert time.monotonic() - start < 10


def test_unparsable_links_and_locations_are_registry_errors(
    serve: ServerPool,
) -> None:
    tags = serve(lambda s: Answer(200, {"Link": '<http://[::1/x>; rel="next"'}, b'{"tags":[]}'))
    with pytest.raises(RegistryError, match="another origin"):
        client(tags).list_tags("app")
    upload = serve(lambda s: Answer(202, {"Location": "http://[::1/upload"}))
    with pytest.raises(RegistryError, match="unusable Location"):
        client(upload).upload_blob("app", DIGEST, BLOB)
