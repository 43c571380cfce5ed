"""Which settings a pull request may change: the one decision, pure.

A pull request controls its own copy of the config file, but some settings decide where
credentials go or which identity runs code. On a pull request those *trusted settings*
(`TRUSTED_SETTINGS`) are taken from the base branch's version of the config file (or from the
workflow: inputs and ``SOCI_CI_*`` variables override the file layer as usual), never from the
pull request's copy. Each trusted setting the pull request changed is reported as ignored
(`TrustDecision.report_lines`). When the base branch's config cannot be read, the pull
request's trusted settings are all ignored (nothing is trusted that cannot be checked).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

# dotted path -> why a pull request may not set it (docs/config.md and SECURITY.md list them).
TRUSTED_SETTINGS: Mapping[str, str] = MappingProxyType(
    {
        "image.repository": "the registry the credentials are sent to and the image pushed to",
        "image.tags": "tags a pull request could overwrite (latest, release tags)",
        "soci.tag": "the tag of the SOCI index in the trusted repository",
        "probe.region": "the AWS region the probe runs in",
        "probe.cluster": "the ECS cluster the probe runs tasks in",
        "probe.task_definition": "the roles, secrets and sidecars the image would run with",
        "probe.container_name": "which container of the task definition gets the image",
        "probe.execution_role_arn": "the IAM role that pulls images and reads secrets",
        "probe.task_role_arn": "the IAM role the pull request's code would run as",
        "probe.network.subnets": "the network the pull request's code runs in",
        "probe.network.security_groups": "what the pull request's code may reach",
        "probe.network.assign_public_ip": "whether the pull request's code gets a public IP",
        "probe.log_group": "the CloudWatch log group written to",
        "probe.baseline_image": "another image run with the probe's roles",
        "probe.check_image": "another image run in every probe task, with the probe's roles",
        "probe.create_log_group": "whether the probe creates AWS resources",
        "probe.tags": "the cost-allocation tags on everything the probe creates",
        "probe.max_cpu": "the cost cap on task size",
        "probe.max_memory": "the cost cap on task size",
        "probe.max_task_seconds": "the cost cap on task time",
        "probe.max_wall_seconds": "the cost cap on the probe's duration",
        "baseline.store": "where results are read from and written to (S3 or a directory)",
        "startup.helper_image": "the image run with CAP_SYS_ADMIN and the engine's data read-only",
        "startup.network": "what the pull request's image may reach while it is recorded",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoredSetting:
    """A trusted setting the pull request's config set differently from the base branch."""

    path: str
    pr_value: str  # shortened JSON text; "(unset)" when the PR removed it
    used_value: str  # what is used instead: the base branch's value or "(unset)"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustDecision:
    """The file layer to use and what of the pull request's file was ignored.

    ``data``: the pull request's mapping with every trusted setting replaced by the base
    branch's (removed where the base has none); on a branch run, the file as it is.
    ``base``: where the base config came from (``"git <sha>"``, ``"GitHub API at <ref>"``), or
    why it is missing (then ``base_available`` is False).
    """

    data: Mapping[str, Any]
    pull_request: bool
    base: str = ""
    base_available: bool = True
    ignored: tuple[IgnoredSetting, ...] = ()

    def report_lines(self) -> list[str]:
        """One line per ignored change, for the report (plain text, shortened values)."""
        if not self.pull_request:
            return []
        lines: list[str] = []
        if not self.ignored:
            return lines
        if not self.base_available:
            lines.append(
                f"the base branch's config could not be read ({self.base}): the pull "
                "request's trusted settings are ignored"
            )
        else:
            lines.append(
                f"trusted settings are read from the base branch's config ({self.base}), "
                "not from the pull request's"
            )
        for item in self.ignored:
            instead = (
                "the workflow's value or the default"
                if item.used_value == _UNSET
                else f"{item.used_value} from the base branch"
            )
            lines.append(
                f"ignored from the pull request's config: {item.path} = {item.pr_value} "
                f"(a trusted setting; using {instead})"
            )
        return lines


_MISSING = object()
_UNSET = "(unset)"


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _delete(data: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = copy.deepcopy(value)


def _show(value: Any, limit: int = 80) -> str:
    if value is _MISSING:
        return _UNSET
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decide_trust(
    pr_data: Mapping[str, Any],
    *,
    pull_request: bool,
    base_data: Mapping[str, Any] | None,
    base: str = "",
) -> TrustDecision:
    """The file layer for this run (see the module docstring).

    ``base_data``: the base branch's config mapping (``{}`` when the base has no config file),
    or None when it could not be read (``base`` says why).
    """
    if not pull_request:
        return TrustDecision(data=pr_data, pull_request=False)
    available = base_data is not None
    reference: Mapping[str, Any] = base_data if base_data is not None else {}
    data: dict[str, Any] = copy.deepcopy(dict(pr_data))
    ignored: list[IgnoredSetting] = []
    for path in TRUSTED_SETTINGS:
        theirs, ours = _get(pr_data, path), _get(reference, path)
        _delete(data, path)
        if ours is not _MISSING:
            _set(data, path, ours)
        changed = (theirs is _MISSING) != (ours is _MISSING) or theirs != ours
        if changed:
            ignored.append(
                IgnoredSetting(path=path, pr_value=_show(theirs), used_value=_show(ours))
            )
    return TrustDecision(
        data=MappingProxyType(data),
        pull_request=True,
        base=base,
        base_available=available,
        ignored=tuple(ignored),
    )
