"""AWS Lambda entry point: `soci_ci.lambda_entry.handler`, for EventBridge ECR push events.

The edge of the Lambda: it reads the environment once per invocation, parses the event,
calls soci_ci.app.push_index, prints one JSON line (Embedded Metric Format) per image and
returns the summary. Skipped and indexed pushes return normally; a failure (registry, bad
image, deadline) is logged the same way and raised, so Lambda's retries and the dead-letter
queue take over. Run it with the Lambda runtime interface client:
`python -m awslambdaric soci_ci.lambda_entry.handler`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Protocol

from soci_ci.app.push_index import index_push
from soci_ci.errors import SociCiError
from soci_ci.push.deadline import Deadline
from soci_ci.push.event import EcrPush, parse_push_event
from soci_ci.push.report import PushSummary, emf_line, summary_for
from soci_ci.push.settings import DEFAULT_NAMESPACE, settings_from_env
from soci_ci.registry.ecr import EcrTokens

# Without a Lambda context (a direct call, e.g. from an ECS task for very large images)
# there is no deadline.
NO_DEADLINE_MS = 10**12
_tokens = EcrTokens()  # cached across warm invocations (tokens live 12 h)


class LambdaContext(Protocol):
    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


class PushFailed(Exception):
    """The invocation failed (its summary is in the log line); Lambda retries or dead-letters."""


def _emit(summary: PushSummary, namespace: str, request_id: str) -> None:
    line = emf_line(
        summary, namespace=namespace, timestamp_ms=int(time.time() * 1000), request_id=request_id
    )
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def handler(event: Any, context: LambdaContext | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr, force=False)
    started = time.monotonic()
    request_id = getattr(context, "aws_request_id", "") or "-"
    remaining = getattr(context, "get_remaining_time_in_millis", None)

    def remaining_ms() -> int:
        return int(remaining()) if callable(remaining) else NO_DEADLINE_MS

    namespace = DEFAULT_NAMESPACE
    push: EcrPush | None = None
    try:
        settings = settings_from_env(os.environ)
        namespace = settings.metrics_namespace
        push = parse_push_event(event)
        summary = index_push(
            push,
            settings,
            deadline=Deadline(remaining_ms, settings.deadline_margin),
            tokens=_tokens,
        )
    except SociCiError as exc:
        failed = summary_for(
            push,
            outcome="failed",
            reason=exc.message[:500],
            error_type=type(exc).__name__,
            seconds=time.monotonic() - started,
        )
        _emit(failed, namespace, request_id)
        raise PushFailed(f"{type(exc).__name__}: {exc.message[:500]}") from None
    except Exception as exc:
        # A bug: its text may hold anything (URLs, headers), so only its type is logged.
        failed = summary_for(
            push,
            outcome="failed",
            reason="internal error in soci-ci (a bug: please report it)",
            error_type=type(exc).__name__,
            seconds=time.monotonic() - started,
        )
        _emit(failed, namespace, request_id)
        raise
    _emit(summary, namespace, request_id)
    return summary.to_json()
