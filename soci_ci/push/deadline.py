"""Stop before Lambda's own deadline, while there is still time to report and nothing is written.

Lambda ends an invocation hard at its timeout. The deadline here is that moment minus a margin
(the time the writes and the report need): past it, reading stops with DeadlineExceeded before
any object is written, so nothing is half-pushed (the tag is always written last anyway), and
the invocation fails cleanly for the retry or the dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import BinaryIO, Literal, cast

from soci_ci.errors import ExitCode, SociCiError
from soci_ci.oci.store import Fetched, ImageSource, VerifiedBlobReader


class DeadlineExceeded(SociCiError):
    exit_code = ExitCode.INTERRUPTED
    default_hint = (
        "the image needs more time than the function has: raise its timeout (at most 900 s) or "
        "index it with the same image as an ECS task (README, Org-wide indexing)"
    )


class Deadline:
    def __init__(self, remaining_ms: Callable[[], int], margin_seconds: float) -> None:
        self._remaining_ms = remaining_ms
        self.margin = margin_seconds

    def left(self) -> float:
        """Seconds until the invocation must stop working (negative when past)."""
        return self._remaining_ms() / 1000 - self.margin

    def check(self, doing: str) -> None:
        if self.left() <= 0:
            raise DeadlineExceeded(
                f"stopped {doing}: less than {self.margin:.0f} s of the invocation left; "
                "nothing was written"
            )


class _DeadlineReader:
    """A blob reader that checks the deadline on every read and counts the bytes."""

    def __init__(self, inner: BinaryIO, deadline: Deadline, counter: list[int]) -> None:
        self._inner = inner
        self._deadline = deadline
        self._counter = counter

    def read(self, n: int = -1) -> bytes:
        self._deadline.check("while reading layers")
        data = self._inner.read(n)
        self._counter[0] += len(data)
        return data

    def readable(self) -> bool:
        return True


class _VerifiedDeadlineReader(_DeadlineReader):
    """The same over a reader that checks its blob's digest itself: so does this one."""

    verifies_digest: Literal[True] = True


def deadline_reader(inner: BinaryIO, deadline: Deadline, counter: list[int]) -> BinaryIO:
    """`inner` behind the deadline; a `VerifiedBlobReader` stays one (no second hashing),
    any other reader stays one the caller hashes."""
    kind = _VerifiedDeadlineReader if isinstance(inner, VerifiedBlobReader) else _DeadlineReader
    return cast(BinaryIO, kind(inner, deadline, counter))


class DeadlineSource:
    """An ImageSource whose blob reads stop at the deadline; `bytes_read` counts layer bytes."""

    def __init__(self, inner: ImageSource, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline
        self._counter = [0]

    @property
    def bytes_read(self) -> int:
        return self._counter[0]

    @property
    def display_name(self) -> str:
        return self._inner.display_name

    def resolve(self) -> Fetched:
        return self._inner.resolve()

    def fetch_manifest(self, digest: str) -> Fetched:
        self._deadline.check("while reading manifests")
        return self._inner.fetch_manifest(digest)

    def open_blob(self, digest: str, size: int) -> AbstractContextManager[BinaryIO]:
        @contextmanager
        def opened() -> Iterator[BinaryIO]:
            with self._inner.open_blob(digest, size) as raw:
                yield deadline_reader(raw, self._deadline, self._counter)

        return opened()

    def read_blob_range(self, digest: str, start: int, end: int) -> bytes:
        self._deadline.check("while reading layers")
        return self._inner.read_blob_range(digest, start, end)
