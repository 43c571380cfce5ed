"""Index one ECR push: the same engine and write order as `soci-ci index`, for the Lambda.

The pushed image is read by digest (a tag may have moved since the push), checked against the
filters and the loop rules (soci_ci.push.decide), indexed with `build_plan` and written with
`apply_plan`: blobs, then manifests, the `<tag>-soci` tag last. A rerun or a second delivery
of the same event finds the equivalent index before any layer is read and reports
`up-to-date`; two concurrent deliveries build the same bytes and converge on the same tag.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from soci_ci.app.apply import apply_plan
from soci_ci.app.index import build_plan
from soci_ci.app.index_model import IndexOptions
from soci_ci.app.index_model import Outcome as IndexOutcome
from soci_ci.app.registry_index import check_tag_policy
from soci_ci.errors import RegistryError
from soci_ci.push.deadline import Deadline, DeadlineSource
from soci_ci.push.decide import Outcome, decide_by_content, decide_by_event
from soci_ci.push.event import EcrPush
from soci_ci.push.report import PushSummary, summary_for
from soci_ci.push.settings import PushSettings
from soci_ci.registry.auth import Credentials
from soci_ci.registry.client import RegistryClient
from soci_ci.registry.ecr import EcrTokens
from soci_ci.registry.reference import Reference
from soci_ci.registry.store import RegistryImage
from soci_ci.soci.index_manifest import IndexFormat

log = logging.getLogger(__name__)
WRITE_ATTEMPTS = 3
CONCURRENT_WRITE_CODES = frozenset({"MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN"})


@dataclass(frozen=True, slots=True)
class _OneHost:
    """The ECR token, for the one registry host the function talks to and no other."""

    host: str
    credentials: Credentials | None

    def get(self, host: str) -> Credentials | None:
        return self.credentials if host == self.host else None


def open_pushed_image(push: EcrPush, settings: PushSettings, tokens: EcrTokens) -> RegistryImage:
    """The pushed image by digest, with the ECR token of the event's account and region."""
    host = settings.registry_host or push.registry_host
    client = RegistryClient(host, credentials=_OneHost(host, tokens.get(push.registry_host)))
    ref = Reference(registry=host, repository=push.repository, digest=push.digest)
    return RegistryImage(client, ref)


def soci_tag_for(push: EcrPush, settings: PushSettings) -> str | None:
    """`<tag><suffix>` (v2); for an untagged push the digest's first 12 hex digits."""
    if settings.index_format is IndexFormat.V1:
        return None
    base = push.tag or push.digest.split(":", 1)[1][:12]
    return f"{base}{settings.suffix}"


def index_push(
    push: EcrPush, settings: PushSettings, *, deadline: Deadline, tokens: EcrTokens
) -> PushSummary:
    started = time.monotonic()
    skip = decide_by_event(push, settings)
    if skip is not None:
        return summary_for(push, outcome=skip.outcome, reason=skip.reason)
    deadline.check("before reading the image")
    image = open_pushed_image(push, settings, tokens)
    skip = decide_by_content(image.resolve())
    if skip is not None:
        return summary_for(
            push, outcome=skip.outcome, reason=skip.reason, seconds=time.monotonic() - started
        )
    tag = soci_tag_for(push, settings)
    check_tag_policy(tag, push.tag, overwrite=False)
    options = IndexOptions(
        index_format=settings.index_format,
        span_size=settings.span_size,
        min_layer_size=settings.min_layer_size,
        build_tool_identifier=settings.build_tool_identifier,
        tag=tag,
        optimize_xattrs=settings.optimize_xattrs,
    )
    if settings.workers:
        options = replace(options, workers=settings.workers)
    source = DeadlineSource(image, deadline)
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        report = build_plan(source, options, destination=image)
        if report.outcome is IndexOutcome.NOT_APPLICABLE:
            break
        deadline.check("before writing")
        try:
            report = apply_plan(image, report)
            break
        except RegistryError as exc:
            # Another delivery of the same push writing the same blobs at the same moment:
            # a registry may briefly not know a blob that both upload. Start again: the
            # rerun check then finds the other's complete index, or this one writes it.
            if attempt == WRITE_ATTEMPTS or not CONCURRENT_WRITE_CODES.intersection(exc.codes):
                raise
            log.warning("concurrent write of the same index (%s): starting again", exc.message)
    outcome = {
        IndexOutcome.INDEXED: Outcome.INDEXED,
        IndexOutcome.UP_TO_DATE: Outcome.UP_TO_DATE,
        IndexOutcome.NOT_APPLICABLE: Outcome.NOT_APPLICABLE,
    }[report.outcome]
    return summary_for(
        push,
        outcome=outcome,
        reason=report.message,
        soci_tag=report.tag if report.soci_image_digest else None,
        soci_image_digest=report.soci_image_digest,
        soci_index_digests=tuple(report.soci_indexes.values()),
        written=report.written,
        bytes_read=source.bytes_read,
        seconds=time.monotonic() - started,
    )
