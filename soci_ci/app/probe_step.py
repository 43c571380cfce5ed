"""The probe step: time Fargate cold starts; also its dry run (`--check`) and smoke test.

One entry point each, shared by `soci-ci probe` and `soci-ci run`: typed options in, typed
results out. boto3 is imported here (the AWS edge); endpoints are botocore's own
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` variables.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from soci_ci.app.options import ProbeImages, ProbeOptions, RegistryOptions
from soci_ci.errors import ProbeError, UsageError
from soci_ci.oci.image_ref import repository_of
from soci_ci.probe.model import ProbeResult
from soci_ci.probe.runner import Arm, Probe
from soci_ci.probe.settings import ProbeSettings

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


def _log_progress(line: str) -> None:
    log.info("%s", line)


def new_run_id() -> str:
    return f"soci-ci-probe-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def probe_arms(images: ProbeImages) -> list[Arm]:
    from soci_ci.probe.arms import from_refs  # noqa: PLC0415

    return from_refs(no_soci=images.no_soci, soci=images.soci, baseline=images.baseline)


def _session(settings: ProbeSettings, region: str | None) -> tuple[Any, str]:
    import boto3  # noqa: PLC0415 - boto3 takes ~0.3 s to import

    session = boto3.session.Session(region_name=region or settings.region)
    found = session.region_name
    if not found:
        raise ProbeError(
            "no AWS region", hint="set probe.region, --region or AWS_REGION/AWS_DEFAULT_REGION"
        )
    return session, str(found)


def _apis(session: Any, settings: ProbeSettings) -> tuple[Any, Any]:
    from botocore.config import Config  # noqa: PLC0415

    from soci_ci.probe.ecs import EcsApi, Retrier  # noqa: PLC0415
    from soci_ci.probe.logs import LogsApi  # noqa: PLC0415

    config = Config(
        retries={"mode": "adaptive", "max_attempts": 3}, connect_timeout=10, read_timeout=30
    )
    retrier = Retrier(sleep=time.sleep)
    ecs = EcsApi(session.client("ecs", config=config), cluster=settings.cluster, retrier=retrier)
    logs = LogsApi(session.client("logs", config=config), retrier=retrier)
    return ecs, logs


def check_image_ref(
    settings: ProbeSettings,
    repository: str,
    *,
    push: bool,
    registry: RegistryOptions,
    progress: Progress = _log_progress,
) -> str:
    """The check image: as configured, or built from a static busybox (pushed if ``push``)."""
    if settings.check_image:
        return settings.check_image
    from soci_ci.app.open_image import open_registry_image  # noqa: PLC0415
    from soci_ci.probe import check_image  # noqa: PLC0415

    image = check_image.build(check_image.find_busybox(str(settings.architecture)))
    ref = image.reference(repository)
    if push:
        check_image.push(image, open_registry_image(ref, registry))
        progress(f"check image {ref} pushed ({len(image.layer.data)} bytes)")
    return ref


def _probe(
    options: ProbeOptions,
    arms: list[Arm],
    apis: tuple[Any, Any],
    *,
    region: str,
    run_id: str,
    push: bool,
    progress: Progress,
) -> Probe:
    ecs, logs = apis
    settings = options.settings
    base = None
    if settings.task_definition:
        base = ecs.describe_task_definition(settings.task_definition)
    return Probe(
        ecs=ecs,
        logs=logs,
        settings=settings,
        arms=arms,
        region=region,
        run_id=run_id,
        clock=lambda: datetime.now(UTC),
        sleep=time.sleep,
        progress=progress,
        poll_seconds=options.poll_seconds,
        check_image=check_image_ref(
            settings,
            repository_of(arms[0].image),
            push=push,
            registry=options.registry,
            progress=progress,
        ),
        base_definition=base,
    )


def run_probe(options: ProbeOptions, *, progress: Progress = _log_progress) -> ProbeResult:
    """Run both arms (three with a baseline image) on Fargate and collect the timings."""
    from soci_ci.probe import preflight  # noqa: PLC0415
    from soci_ci.probe.runner import signal_guard  # noqa: PLC0415

    settings = options.settings
    arms = probe_arms(options.images)
    settings.validate_for_run(arms=len(arms))  # exit 2 before any AWS call
    session, region = _session(settings, options.region)
    ecs, logs = _apis(session, settings)
    run_id = new_run_id()
    with signal_guard():
        probe = _probe(
            options, arms, (ecs, logs), region=region, run_id=run_id, push=True, progress=progress
        )
        preflight.check_cluster(ecs, settings, progress)
        if preflight.check_log_group(logs, settings, run_id=run_id, warn=progress):
            progress(f"created log group {settings.log_group}")
        progress(f"probe {run_id}: {len(arms)} arm(s) x {settings.runs} run(s) in {region}")
        return probe.run()


def check_probe(options: ProbeOptions, *, progress: Progress = _log_progress) -> dict[str, Any]:
    """The task definitions the probe would register, validated; nothing is started."""
    from soci_ci.probe.runner import signal_guard  # noqa: PLC0415

    arms = probe_arms(options.images)
    options.settings.validate_for_run(arms=len(arms))
    session, region = _session(options.settings, options.region)
    ecs, logs = _apis(session, options.settings)
    with signal_guard():
        probe = _probe(
            options,
            arms,
            (ecs, logs),
            region=region,
            run_id=new_run_id(),
            push=False,
            progress=progress,
        )
        return {str(k): v for k, v in probe.definitions().items()}


def smoke_test(
    settings: ProbeSettings,
    *,
    check_repository: str | None,
    region: str | None,
    registry: RegistryOptions,
    progress: Progress = _log_progress,
) -> str:
    """The smoke test in the user's account (3 tiny tasks): its report as Markdown."""
    from soci_ci.probe import preflight, smoke  # noqa: PLC0415
    from soci_ci.probe.runner import signal_guard  # noqa: PLC0415

    if not check_repository and not settings.check_image:
        raise UsageError(
            "--smoke needs --check-repository REGISTRY/REPO (an ECR repository of yours) "
            "or probe.check_image"
        )
    settings = settings.with_overrides(runs=1)
    settings.validate_for_run(arms=1)
    session, found_region = _session(settings, region)
    ecs, logs = _apis(session, settings)
    run_id = new_run_id()
    with signal_guard():
        preflight.check_cluster(ecs, settings, progress)
        preflight.check_log_group(logs, settings, run_id=run_id, warn=progress)
        image = check_image_ref(
            settings, check_repository or "", push=True, registry=registry, progress=progress
        )
        return smoke.run(
            ecs=ecs,
            logs=logs,
            settings=settings,
            image=image,
            region=found_region,
            run_id=run_id,
            clock=lambda: datetime.now(UTC),
            sleep=time.sleep,
            progress=progress,
        )
