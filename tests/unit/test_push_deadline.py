"""The Lambda deadline's blob reader: it stops reads at the deadline and keeps the reader's
kind (a digest-checking registry stream stays one; any other reader is still hashed)."""

from __future__ import annotations

import io
from typing import Literal

import pytest

from soci_ci.oci.store import VerifiedBlobReader
from soci_ci.push.deadline import Deadline, DeadlineExceeded, deadline_reader


class CheckingStream(io.BytesIO):
    """Stands for a registry blob stream, which checks the digest as the last byte arrives."""

    verifies_digest: Literal[True] = True


def test_the_reader_kind_is_kept() -> None:
    deadline = Deadline(lambda: 60_000, margin_seconds=10)
    plain = deadline_reader(io.BytesIO(b"x"), deadline, [0])
    checked = deadline_reader(CheckingStream(b"x"), deadline, [0])
    assert not isinstance(plain, VerifiedBlobReader)  # the caller hashes it
    assert isinstance(checked, VerifiedBlobReader)


def test_reads_are_counted_and_stop_at_the_deadline() -> None:
    left = [60_000]
    counter = [0]
    reader = deadline_reader(io.BytesIO(b"abcdef"), Deadline(lambda: left[0], 10), counter)
    assert reader.read(4) == b"abcd" and counter == [4]
    left[0] = 9_000  # 9 s left, 10 s margin
    with pytest.raises(DeadlineExceeded, match="stopped while reading layers"):
        reader.read(2)
