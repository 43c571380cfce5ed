"""Write an index plan to its destination: blobs in parallel, then manifests, tags last.

Blobs (zTOCs, the `{}` config) depend on nothing, so they are written concurrently: against a
remote registry each costs a HEAD, a POST and a PUT, and sequential round trips add up. The
manifests follow in plan order (children before the indexes that name them), then the tags,
so no tag ever points at an incomplete graph. Anything the destination already has is
counted, not written again.
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

    def write(item: PlanItem) -> bool:
        exists = sink.has_manifest(item.digest) if item.is_manifest else sink.has_blob(item.digest)
        if exists:
            return False
        if item.is_manifest:
            sink.push_manifest(item.data, item.media_type, item.digest)
        else:
            sink.push_blob(item.digest, item.data)
        log.debug("wrote %s %s", item.what, item.digest)
        return True

    blobs = [item for item in report.plan.items if not item.is_manifest]
    manifests = [item for item in report.plan.items if item.is_manifest]
    with ThreadPoolExecutor(max_workers=max(1, min(PUSH_WORKERS, len(blobs)))) as pool:
        results = list(pool.map(write, blobs))
    results += [write(item) for item in manifests]
    written = sum(results)
    present = len(results) - written
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
