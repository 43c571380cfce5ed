"""One `Range` answer turned into exactly the bytes asked for, with bounded memory.

A 206 must start where asked (`Content-Range`) and hold no more than asked; a 200 (a registry
that ignores `Range`) is streamed: the bytes before `start` are skipped chunk by chunk, the
download stops at `end`, so memory stays at one chunk plus the range, whatever the blob size.
"""

from __future__ import annotations

import logging
import re

import requests

from soci_ci.errors import RegistryError
from soci_ci.limits import REGISTRY_RANGE_MAX
from soci_ci.registry.failures import size_text

log = logging.getLogger(__name__)
CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(\d{1,19})-(\d{1,19})/(?:\d{1,19}|\*)")
_warned: set[str] = set()


def read_range_from(response: requests.Response, start: int, end: int, *, where: str) -> bytes:
    """Bytes [start, end) from a streamed answer to `Range: bytes=start-(end-1)`."""
    want = end - start
    if want > REGISTRY_RANGE_MAX:
        raise RegistryError(
            f"{where}: a range of {size_text(want)} is more than the "
            f"{size_text(REGISTRY_RANGE_MAX)} one read may ask for"
        )
    skip = 0
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if match is not None and int(match.group(1)) != start:
            raise RegistryError(
                f"{where}: the registry answered bytes from {match.group(1)}, asked from {start}",
                hint="the registry or a proxy mishandles Range requests",
            )
    else:
        skip = start
        key = where.split(":", 1)[0]
        if key not in _warned:
            _warned.add(key)
            log.warning(
                "%s: the registry ignores Range requests; reading up to each range instead", key
            )
    parts: list[bytes] = []
    have = 0
    for chunk in response.iter_content(CHUNK):
        if skip:
            if len(chunk) <= skip:
                skip -= len(chunk)
                continue
            chunk, skip = chunk[skip:], 0
        parts.append(chunk[: want - have])
        have += len(chunk)
        if have >= want:
            break
    if response.status_code == 206 and have > want:
        raise RegistryError(
            f"{where}: the registry sent more than the {want} bytes asked for",
            hint="the registry or a proxy mishandles Range requests",
        )
    data = b"".join(parts)
    if len(data) != want:
        raise RegistryError(
            f"{where}: short range read ({len(data)} of {want} bytes)",
            temporary=True,
            hint="the run can be repeated safely",
        )
    return data
