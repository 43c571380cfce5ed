"""HTTP answer bodies read with a bound: the declared `Content-Length` is checked first (never
trusted alone), then the body is streamed and cut at the limit, so an endless or huge answer
costs at most `limit` bytes of memory; with `seconds`, a body that trickles in slower than that
in all is cut too (checked between reads that return what has arrived). `requests`/`urllib3`
failures while reading propagate as `requests.RequestException`s for the caller to translate."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import requests
import urllib3

CHUNK = 64 * 1024


class BodyTooLarge(ValueError):
    """The answer declares or sends more than the limit."""

    def __init__(self, limit: int, declared: int | None) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit
        self.declared = declared


class BodyTooSlow(ValueError):
    """The answer did not arrive within its time budget."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"slower than {seconds} s")
        self.seconds = seconds


def _chunks(response: requests.Response, size: int, seconds: float | None) -> Iterator[bytes]:
    raw = response.raw
    if seconds is None or not isinstance(raw, urllib3.response.HTTPResponse):
        yield from response.iter_content(size)
        return
    deadline = time.monotonic() + seconds
    while True:
        if time.monotonic() > deadline:
            raise BodyTooSlow(seconds)
        try:
            chunk = raw.read1(size, decode_content=True)
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from None
        except urllib3.exceptions.ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from None
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from None
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.ConnectionError(exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise requests.ConnectionError(exc) from None
        if not chunk:
            return
        yield chunk


def declared_length(response: requests.Response) -> int | None:
    """`Content-Length` when it is one plain non-negative number, else None."""
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() and len(value) <= 19 else None


def read_body(response: requests.Response, limit: int, *, seconds: float | None = None) -> bytes:
    """The whole body of a streamed response, at most `limit` bytes (else `BodyTooLarge`) and
    within `seconds` when given (else `BodyTooSlow`).

    The response is left fully read (its connection can be reused) or closed."""
    declared = declared_length(response)
    if declared is not None and declared > limit:
        response.close()
        raise BodyTooLarge(limit, declared)
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in _chunks(response, min(CHUNK, limit + 1) or 1, seconds):
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit, declared)
            parts.append(chunk)
    except BaseException:
        response.close()
        raise
    body = b"".join(parts)
    # What `requests` itself does once a body is read: `.content`, `.json()`, `.text` and
    # `.links` work, and close() hands the connection back to the pool.
    response._content = body
    response._content_consumed = True  # type: ignore[attr-defined]
    return body


def read_prefix(response: requests.Response, limit: int) -> bytes:
    """At most `limit` bytes of the body (an error answer: the rest is not needed); closes."""
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(min(CHUNK, limit) or 1):
            parts.append(chunk[: limit - size])
            size += len(chunk)
            if size >= limit:
                break
    except requests.RequestException:
        pass  # an error answer cut short still says what it can
    finally:
        response.close()
    return b"".join(parts)


def skip_body(response: requests.Response, limit: int) -> None:
    """Drop a body nobody needs: read it when small (the connection is reused), else close."""
    with contextlib.suppress(BodyTooLarge, requests.RequestException):
        read_body(response, limit)
    response.close()
