"""CloudWatch Logs edge: log streams read incrementally, the ready line and the check report.

GetLogEvents pagination (botocore logs model): with ``startFromHead=True`` each answer carries
``nextForwardToken``; "if you have reached the end of the stream, it returns the same token
you passed in". A page may be empty while more events follow, so only a repeated token ends a
read. A ``StreamCursor`` keeps the token between polls: every event is fetched once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from soci_ci import limits
from soci_ci.errors import AwsError
from soci_ci.probe.ecs import Retrier, error_code
from soci_ci.probe.model import Snapshotter
from soci_ci.user_regex import UserRegex

_SNAPSHOTTER = re.compile(r'"Snapshotter"\s*:\s*"([A-Za-z0-9_-]{1,32})"')
_KNOWN_STATUS = re.compile(r'"KnownStatus"\s*:\s*"([A-Z_]{1,32})"')
PAGES_PER_READ = limits.PROBE_LOG_PAGES_PER_READ  # the rest is read at the next poll
MAX_EVENTS_PER_STREAM = limits.PROBE_LOG_EVENTS_PER_STREAM
MAX_MESSAGE_CHARS = limits.PROBE_LOG_MESSAGE_CHARS
_STARTED = frozenset({"RUNNING", "STOPPED"})


@dataclass(slots=True)
class StreamCursor:
    """Where the reading of one stream stands (mutable, one per stream of one task)."""

    group: str
    stream: str
    token: str | None = None
    seen: int = 0
    at_end: bool = False  # the last read reached the end of what exists now
    exhausted: bool = False  # MAX_EVENTS_PER_STREAM read
    events: list[tuple[int, str]] = field(default_factory=list)  # this read's new events


def parse_snapshotter(messages: Iterable[str], container_name: str) -> Snapshotter:
    """The app container's ``Snapshotter`` from Task Metadata v4 ``/task`` documents.

    The check container prints the document repeatedly (one line each). ``Snapshotter`` is
    only trusted once that container's ``KnownStatus`` is RUNNING (or later): before its image
    is pulled the field holds the default, ``overlayfs``. The last trustworthy document wins.
    """
    found = Snapshotter.UNKNOWN
    for message in messages:
        value = _one_document(message, container_name)
        if value is not Snapshotter.UNKNOWN:
            found = value
    return found


def _one_document(text: str, container_name: str) -> Snapshotter:
    text = text.strip()
    if "{" not in text:
        return Snapshotter.UNKNOWN
    try:
        document = json.loads(text[text.index("{") :])
    except ValueError:
        document = None
    if isinstance(document, dict):
        for container in document.get("Containers") or ():
            if isinstance(container, dict) and container.get("Name") == container_name:
                status = container.get("KnownStatus")
                if status is not None and status not in _STARTED:
                    return Snapshotter.UNKNOWN
                return _to_snapshotter(container.get("Snapshotter"))
        return Snapshotter.UNKNOWN
    # Not parsable (cut): look between the container's "Name" and the next "Name".
    name = re.search(r'"Name"\s*:\s*' + re.escape(json.dumps(container_name)), text)
    if name is None:
        return Snapshotter.UNKNOWN
    rest = text[name.end() :]
    following = re.search(r'"Name"\s*:', rest)
    part = rest[: following.start()] if following else rest
    status = _KNOWN_STATUS.search(part)
    if status is not None and status.group(1) not in _STARTED:
        return Snapshotter.UNKNOWN
    found = _SNAPSHOTTER.search(part)
    return Snapshotter.UNKNOWN if found is None else _to_snapshotter(found.group(1))


def _to_snapshotter(value: object) -> Snapshotter:
    try:
        return Snapshotter(str(value).lower())
    except ValueError:
        return Snapshotter.UNKNOWN


class LogsApi:
    def __init__(self, client: Any, *, retrier: Retrier) -> None:
        self.client = client
        self.retrier = retrier

    def log_group_exists(self, name: str) -> bool:
        answer = self.retrier.call(
            "DescribeLogGroups",
            lambda: self.client.describe_log_groups(logGroupNamePrefix=name, limit=50),
        )
        return any(g.get("logGroupName") == name for g in answer.get("logGroups") or ())

    def create_log_group(self, name: str, *, tags: dict[str, str], retention_days: int) -> None:
        try:
            self.retrier.call(
                "CreateLogGroup",
                lambda: self.client.create_log_group(logGroupName=name, tags=tags),
            )
        except AwsError as exc:
            cause = exc.__cause__
            if cause is None or error_code(cause) != "ResourceAlreadyExistsException":
                raise
        self.retrier.call(
            "PutRetentionPolicy",
            lambda: self.client.put_retention_policy(
                logGroupName=name, retentionInDays=retention_days
            ),
        )

    def read(self, cursor: StreamCursor) -> list[tuple[int, str]]:
        """Events added since the last read, as (timestamp ms, message); [] if none yet."""
        new: list[tuple[int, str]] = []
        cursor.at_end = False
        for _ in range(PAGES_PER_READ):
            if cursor.seen >= MAX_EVENTS_PER_STREAM:
                cursor.exhausted = cursor.at_end = True
                break
            kwargs: dict[str, Any] = {
                "logGroupName": cursor.group,
                "logStreamName": cursor.stream,
                "startFromHead": True,
            }
            if cursor.token is not None:
                kwargs["nextToken"] = cursor.token
            try:
                answer = self.retrier.call(
                    "GetLogEvents",
                    lambda k=kwargs: self.client.get_log_events(**k),  # type: ignore[misc]
                )
            except AwsError as exc:
                if exc.__cause__ is not None and (
                    error_code(exc.__cause__) == "ResourceNotFoundException"
                ):
                    cursor.at_end = True  # the stream does not exist yet
                    break
                raise
            for event in answer.get("events") or ():
                if cursor.seen >= MAX_EVENTS_PER_STREAM:
                    break
                cursor.seen += 1
                try:
                    stamp = int(event["timestamp"])
                except (KeyError, TypeError, ValueError):
                    continue
                new.append((stamp, str(event.get("message", ""))[:MAX_MESSAGE_CHARS]))
            token = answer.get("nextForwardToken")
            if not token or token == cursor.token:
                cursor.at_end = True
                break
            cursor.token = str(token)
        cursor.events = new
        return new


def first_match(events: Iterable[tuple[int, str]], pattern: UserRegex | None) -> int | None:
    """``timestamp`` (ms) of the first event matching ``pattern`` (or the first event)."""
    for stamp, message in events:
        if pattern is None or pattern.search(message):
            return stamp
    return None
