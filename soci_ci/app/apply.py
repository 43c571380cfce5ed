"""Write an index plan to its destination: blobs in parallel, then manifests, tags last.

Against a remote registry every object costs round trips (HEAD, then POST and PUT for a
blob), so they are not made one by one: first one concurrent wave of HEADs finds what the
destination already has (counted, not written again), then the missing blobs (zTOCs, the
`{}` config), which depend on nothing, are uploaded concurrently. The missing manifests
follow in plan order (children before the indexes that name them), then the tags, so no tag
ever points at an incomplete graph.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from soci_ci.app.index_model import IndexReport, Outcome, PlanItem
from soci_ci.oci.store import ImageSink
from soci_ci.soci.index_manifest import IndexFormat

log = logging.getLogger(__name__)
PUSH_WORKERS = 8
UP_TO_DATE_MESSAGE = "already SOCI-enabled: an identical index is present, nothing was written"


def apply_plan(sink: ImageSink, report: IndexReport) -> IndexReport:
    """Write what the destination lacks; return the report with what was written."""
    if report.plan is None:
        return report

    def exists(item: PlanItem) -> bool:
        return sink.has_manifest(item.digest) if item.is_manifest else sink.has_blob(item.digest)

    def push_blob(item: PlanItem) -> None:
        sink.push_blob(item.digest, item.data)
        log.debug("wrote %s %s", item.what, item.digest)

    items = report.plan.items
    with ThreadPoolExecutor(max_workers=max(1, min(PUSH_WORKERS, len(items)))) as pool:
        present_flags = list(pool.map(exists, items))
        missing = [item for item, there in zip(items, present_flags, strict=True) if not there]
        list(pool.map(push_blob, [item for item in missing if not item.is_manifest]))
    for item in missing:
        if item.is_manifest:
            sink.push_manifest(item.data, item.media_type, item.digest)
            log.debug("wrote %s %s", item.what, item.digest)
    written = len(missing)
    present = len(items) - written
    for tag, item in report.plan.tags:
        if sink.tag(tag, item.data, item.media_type, item.digest):
            written += 1
    if written == 0:
        return replace(
            report, outcome=Outcome.UP_TO_DATE, already_present=present, message=UP_TO_DATE_MESSAGE
        )
    what = "SOCI-enabled image" if report.index_format is IndexFormat.V2 else "SOCI index (v1)"
    return replace(
        report,
        written=written,
        already_present=present,
        message=f"{what} written: {written} new object(s), {present} already present",
    )
