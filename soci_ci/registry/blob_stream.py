"""A blob download as a file-like object: constant memory, digest checked at the end, and
resumed with `Range` after a connection reset or a stream that ends early.

Exactly the descriptor's `size` bytes are read: a declared `Content-Length` or a body longer
than that is an error, never a bigger read."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import requests

from soci_ci.errors import RegistryError
from soci_ci.http_body import declared_length
from soci_ci.registry.failures import request_failure
from soci_ci.registry.retry import RetryPolicy

log = logging.getLogger(__name__)
CHUNK = 1 << 20
# Opens the blob at a byte offset; returns the response (200 or 206).
Opener = Callable[[int], requests.Response]


class BlobStream:
    verifies_digest = True  # see ImageSource.open_blob: the caller need not hash again

    def __init__(
        self, open_at: Opener, *, where: str, digest: str, size: int, retry: RetryPolicy
    ) -> None:
        self._open_at = open_at
        self._where = where
        self._digest = digest
        self._size = size
        self._retry = retry
        self._hash = hashlib.sha256()
        self._pos = 0
        self._resumes = 0
        self._response: requests.Response | None = None
        self._iter: Iterator[bytes] | None = None
        self._pending = memoryview(b"")  # received, not yet handed out (no copies)

    @property
    def position(self) -> int:
        return self._pos

    def _too_long(self, detail: str) -> RegistryError:
        return RegistryError(
            f"{self._where}: blob {self._digest[:19]} is larger than its descriptor's "
            f"{self._size} bytes ({detail})",
            hint="the registry serves other content under this digest; do not use this image",
        )

    def _open(self) -> None:
        r = self._open_at(self._pos)
        # A server that ignores Range sends the whole blob: drop what we already have.
        skip = self._pos if self._pos and r.status_code == 200 else 0
        declared = declared_length(r)
        if declared is not None and declared - skip > self._size - self._pos:
            r.close()
            raise self._too_long(f"{declared} bytes declared")
        self._response = r
        self._iter = r.iter_content(CHUNK)
        while skip > 0:
            chunk = next(self._iter, b"")
            if not chunk:
                break
            if len(chunk) > skip:
                self._pending = memoryview(chunk)[skip:]
            skip -= len(chunk)

    def _check_end(self) -> None:
        """At `size` bytes: the body must end there."""
        if self._iter is None:
            return
        try:
            extra = next(self._iter, b"")
        except requests.RequestException:
            extra = b""
        if extra:
            self.close()
            raise self._too_long("more bytes sent")

    def _next_chunk(self) -> memoryview:
        while True:
            if self._pending:
                pending, self._pending = self._pending, memoryview(b"")
                if len(pending) > self._size - self._pos:
                    self.close()
                    raise self._too_long("more bytes sent")
                return pending
            if self._pos >= self._size:
                self._check_end()
                return memoryview(b"")
            if self._iter is None:
                self._open()
            assert self._iter is not None
            try:
                chunk: bytes = next(self._iter, b"")
            except requests.exceptions.ContentDecodingError as exc:
                self.close()
                raise request_failure(self._where, "download", self._where, exc) from None
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.ConnectionError,
                requests.Timeout,
            ) as exc:
                chunk = b""
                log.warning(
                    "%s: download of %s interrupted at byte %d (%s), resuming",
                    self._where,
                    self._digest[:19],
                    self._pos,
                    type(exc).__name__,
                )
            if chunk:
                if len(chunk) > self._size - self._pos:
                    self.close()
                    raise self._too_long("more bytes sent")
                return memoryview(chunk)
            self.close()
            self._resumes += 1
            if not self._retry.can_retry(self._resumes - 1):
                raise RegistryError(
                    f"{self._where}: download of {self._digest[:19]} kept failing at byte "
                    f"{self._pos} of {self._size}",
                    temporary=True,
                    hint="check the network path to the registry; the run can be repeated safely",
                )
            self._retry.sleep(self._retry.delay(self._resumes - 1))

    def _consume(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        self._pos += len(data)
        if self._pos == self._size:
            actual = "sha256:" + self._hash.hexdigest()
            if actual != self._digest:
                raise RegistryError(
                    f"{self._where}: blob {self._digest[:19]} arrived with digest "
                    f"{actual[:19]}: corrupted in transit or by the registry",
                    temporary=True,
                    hint="run again; if it persists, the registry holds a corrupt blob",
                )
            self._check_end()
            self.close()

    def readinto(self, view: memoryview | bytearray) -> int:
        chunk = self._next_chunk()
        n = min(len(chunk), len(view))
        view[:n] = chunk[:n]
        self._pending = chunk[n:]
        self._consume(chunk[:n])
        return n

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            parts = []
            while chunk := self._next_chunk():
                self._consume(chunk)
                parts.append(chunk)
            return b"".join(parts)
        chunk = self._next_chunk()
        out, self._pending = chunk[:n], chunk[n:]
        self._consume(out)
        return bytes(out)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response = None
        self._iter = None

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
