"""HTTP answer bodies read with a bound: the declared `Content-Length` is checked first (never
trusted alone), then the body is streamed and cut at the limit, so an endless or huge answer
costs at most `limit` bytes of memory. `requests`/`urllib3` failures while reading propagate
for the caller to translate (they are `requests.RequestException`s)."""

from __future__ import annotations

import contextlib

import requests

CHUNK = 64 * 1024


class BodyTooLarge(ValueError):
    """The answer declares or sends more than the limit."""

    def __init__(self, limit: int, declared: int | None) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit
        self.declared = declared


def declared_length(response: requests.Response) -> int | None:
    """`Content-Length` when it is one plain non-negative number, else None."""
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() and len(value) <= 19 else None


def read_body(response: requests.Response, limit: int) -> bytes:
    """The whole body of a streamed response, at most `limit` bytes, or `BodyTooLarge`.

    The response is left fully read (its connection can be reused) or closed."""
    declared = declared_length(response)
    if declared is not None and declared > limit:
        response.close()
        raise BodyTooLarge(limit, declared)
    parts: list[bytes] = []
    size = 0
    for chunk in response.iter_content(min(CHUNK, limit + 1) or 1):
        size += len(chunk)
        if size > limit:
            response.close()
            raise BodyTooLarge(limit, declared)
        parts.append(chunk)
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
