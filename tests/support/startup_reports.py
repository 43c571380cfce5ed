"""A `soci-ci startup` report built by hand: the files an application read, each from a
layer, 10 bytes each, recorded locally (for tests of what consumes a report)."""

from __future__ import annotations

from collections.abc import Sequence

from soci_ci.startup.model import FileRead, RecordingInfo, StartupFiles, StartupReport, Totals


def startup_report(image: str, digest: str, reads: Sequence[tuple[str, str]]) -> StartupReport:
    """`reads`: (path, layer digest) of each file read at start, in order."""
    return StartupReport(
        image=image,
        manifest_digest=digest,
        platform="linux/amd64",
        ztoc_source="registry",
        recording=RecordingInfo(mode="local", driver="vfs", ready_by="log", ready_seconds=0.5),
        result=StartupFiles(
            files=tuple(FileRead(path=p, layer=layer, size=10, kind="open") for p, layer in reads),
            layers=(),
            totals=Totals(
                image_bytes=100,
                startup_files=len(reads),
                startup_file_bytes=10 * len(reads),
                fetch_bytes=0,
                fetch_requests=0,
            ),
        ),
    )
