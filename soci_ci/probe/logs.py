"""CloudWatch Logs edge: the ready line's timestamp and the sidecar's snapshotter report."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from soci_ci.probe.ecs import Retrier, error_code
from soci_ci.probe.model import Snapshotter

_SNAPSHOTTER = re.compile(r'"Snapshotter"\s*:\s*"([A-Za-z0-9_-]+)"')
MAX_PAGES = 50


def parse_snapshotter(messages: Iterable[str], container_name: str) -> Snapshotter:
    """Read the app container's ``Snapshotter`` from a Task Metadata v4 ``/task`` document.

    The sidecar prints the document on one line; if it is split, the lines are joined.
    A truncated document still counts if the app container's entry is complete enough.
    """
    text = "".join(messages).strip()
    if not text:
        return Snapshotter.UNKNOWN
    try:
        document = json.loads(text[text.index("{") :])
    except ValueError:
        document = None
    if isinstance(document, dict):
        for container in document.get("Containers") or ():
            if isinstance(container, dict) and container.get("Name") == container_name:
                return _to_snapshotter(container.get("Snapshotter"))
    # Not parsable (truncated): look between the container's "Name" and the next "Name".
    name = re.search(r'"Name"\s*:\s*' + re.escape(json.dumps(container_name)), text)
    if name is None:
        return Snapshotter.UNKNOWN
    rest = text[name.end() :]
    following = re.search(r'"Name"\s*:', rest)
    found = _SNAPSHOTTER.search(rest[: following.start()] if following else rest)
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

    def _events(self, group: str, stream: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if token:
                kwargs["nextToken"] = token
            try:
                answer = self.retrier.call(
                    "GetLogEvents",
                    lambda k=kwargs: self.client.get_log_events(**k),  # type: ignore[misc]
                )
            except Exception as exc:
                cause = exc.__cause__ or exc
                if error_code(cause) == "ResourceNotFoundException":
                    return  # the stream does not exist yet
                raise
            yield from answer.get("events") or []
            next_token = answer.get("nextForwardToken")
            if not next_token or next_token == token or not answer.get("events"):
                return
            token = next_token

    def first_match(self, group: str, stream: str, pattern: re.Pattern[str] | None) -> int | None:
        """``timestamp`` (ms) of the first event matching ``pattern`` (or the first event)."""
        for event in self._events(group, stream):
            if pattern is None or pattern.search(str(event.get("message", ""))):
                return int(event["timestamp"])
        return None

    def snapshotter(self, group: str, stream: str, container_name: str) -> Snapshotter:
        messages = [str(e.get("message", "")) for e in self._events(group, stream)]
        return parse_snapshotter(messages, container_name)
