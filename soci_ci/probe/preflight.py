"""Checks against AWS before anything is created: the cluster, Spot, the log group.

Each failure is a ``ConfigError`` (exit 2) naming the config key to change. A check that
cannot be made (the call is denied by an older IAM policy, or not supported) is skipped with
a warning: the probe's own calls will then tell.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from soci_ci.errors import AwsError, ConfigError
from soci_ci.probe import task_definition
from soci_ci.probe.ecs import EcsApi
from soci_ci.probe.logs import LogsApi
from soci_ci.probe.settings import CapacityProvider, ProbeSettings

LOG_RETENTION_DAYS = 7
log = logging.getLogger(__name__)


def _skipped(what: str, exc: AwsError, warn: Callable[[str], None]) -> None:
    if exc.throttled:
        raise exc
    warn(f"warning: {what} not checked ({exc})")


def check_cluster(
    ecs: EcsApi, settings: ProbeSettings, warn: Callable[[str], None] = log.warning
) -> None:
    try:
        cluster = ecs.describe_cluster()
    except AwsError as exc:
        _skipped(f"cluster {settings.cluster!r} and its capacity providers", exc, warn)
        return
    if cluster is None:
        raise ConfigError(
            f"probe.cluster: ECS cluster {settings.cluster!r} does not exist in this region",
            hint="create it (infra/probe.yaml) or set probe.cluster / probe.region",
        )
    if settings.capacity_provider is CapacityProvider.FARGATE_SPOT:
        providers = [str(p) for p in cluster.get("capacityProviders") or ()]
        if "FARGATE_SPOT" not in providers:
            raise ConfigError(
                f"probe.capacity_provider: FARGATE_SPOT is not attached to cluster "
                f"{settings.cluster!r} (it has: {', '.join(providers) or 'none'})",
                hint="aws ecs put-cluster-capacity-providers --cluster NAME "
                "--capacity-providers FARGATE FARGATE_SPOT --default-capacity-provider-strategy "
                "capacityProvider=FARGATE,weight=1 (infra/probe.yaml does this), or use FARGATE",
            )


def check_log_group(
    logs: LogsApi,
    settings: ProbeSettings,
    *,
    run_id: str,
    warn: Callable[[str], None] = log.warning,
) -> bool:
    """True when the group was created now."""
    group = settings.log_group
    if group is None:
        raise ConfigError("probe.log_group is required")
    try:
        exists = logs.log_group_exists(group)
    except AwsError as exc:
        if not settings.create_log_group:
            _skipped(f"log group {group!r}", exc, warn)
            return False
        exists = False  # try to create it; "already exists" is fine
    if exists:
        return False
    if not settings.create_log_group:
        raise ConfigError(
            f"probe.log_group: log group {group!r} does not exist",
            hint="create it (infra/probe.yaml), or set probe.create_log_group: true "
            "(needs logs:CreateLogGroup and logs:PutRetentionPolicy)",
        )
    tags = task_definition.resource_tags(run_id, settings.tags)
    logs.create_log_group(group, tags=tags, retention_days=LOG_RETENTION_DAYS)
    return True
