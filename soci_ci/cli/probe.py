"""`soci-ci probe`: time Fargate cold starts of the same image with and without SOCI.

Only argument handling lives here; boto3 and the probe package are imported inside ``run``
so that `soci-ci` starts fast. Endpoints: botocore's own ``AWS_ENDPOINT_URL_ECS`` /
``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`` variables (local fakes in tests) are honoured as is.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soci_ci.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from soci_ci.probe.runner import Arm
    from soci_ci.probe.settings import ProbeSettings

log = logging.getLogger("soci_ci.probe")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="time Fargate cold starts with and without SOCI",
        description="Run the image with and without its SOCI index on Fargate, N times each, "
        "interleaved; report phase timings, the snapshotter used and failures.",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="the .soci-ci.yml file")
    parser.add_argument("--runs", type=int, help="runs per arm (default: probe.runs, 5)")
    parser.add_argument("--output-json", type=Path, metavar="FILE", help="write results JSON")
    parser.add_argument("--output-markdown", type=Path, metavar="FILE", help="write the table")
    parser.add_argument("--region", help="AWS region (default: probe.region, then boto3)")
    parser.add_argument("--cluster", help="ECS cluster (default: probe.cluster)")
    parser.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # tests: a local moto server
    parser.add_argument("--image-no-soci", metavar="REF", help="repository@digest without SOCI")
    parser.add_argument("--image-soci", metavar="REF", help="repository@digest with SOCI (v2)")
    parser.add_argument("--image-baseline", metavar="REF", help="optional third arm")
    parser.add_argument(
        "--index-json", type=Path, metavar="FILE", help="arms from `soci-ci index --output-json`"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="print the task definitions the probe would register and validate them; "
        "no task is started, nothing is pushed or registered",
    )
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="run the smoke test in your account (3 tiny tasks, < $0.05): answers what "
        "only real Fargate can, prints a report to attach to an issue",
    )
    parser.add_argument(
        "--check-repository",
        metavar="REPO",
        help="--smoke: the ECR repository (registry/name) to push the check image to",
    )
    parser.add_argument("--poll-seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def load_probe_settings(path: Path | None) -> ProbeSettings:
    """The ``probe`` section through the config loader (or plain YAML without it)."""
    from soci_ci.probe.settings import ProbeSettings  # noqa: PLC0415 - keep startup fast

    if path is None:
        return ProbeSettings.from_mapping({})
    try:
        loader = getattr(import_module("soci_ci.config"), "load_config", None)
    except ImportError:
        loader = None
    section: Any
    if loader is not None:
        config = loader(path)
        section = config.get("probe") if isinstance(config, Mapping) else config.probe
        if isinstance(section, ProbeSettings):
            return section
    else:
        import yaml  # noqa: PLC0415 - keep startup fast

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        section = data.get("probe") if isinstance(data, dict) else None
    return ProbeSettings.from_mapping(section or {})


def _arms(args: argparse.Namespace, settings: ProbeSettings) -> list[Arm]:
    from soci_ci.probe import arms  # noqa: PLC0415 - keep startup fast

    baseline = args.image_baseline or settings.baseline_image
    if args.index_json is not None:
        if args.image_no_soci or args.image_soci:
            raise UsageError("use either --index-json or --image-no-soci/--image-soci")
        try:
            report = json.loads(args.index_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read --index-json {args.index_json}: {exc}") from exc
        return arms.from_index_report(report, baseline=baseline)
    if not (args.image_no_soci and args.image_soci):
        raise UsageError("give --image-no-soci and --image-soci, or --index-json")
    return arms.from_refs(no_soci=args.image_no_soci, soci=args.image_soci, baseline=baseline)


def _progress(line: str) -> None:
    from soci_ci.ci.workflow_commands import neutralize  # noqa: PLC0415

    print(neutralize(line), file=sys.stderr, flush=True)


def _session(args: argparse.Namespace, settings: ProbeSettings) -> tuple[Any, str]:
    import os  # noqa: PLC0415

    import boto3  # noqa: PLC0415 - boto3 takes ~0.3 s to import

    from soci_ci.errors import ProbeError  # noqa: PLC0415

    # boto3 reads AWS_DEFAULT_REGION only; AWS_REGION (configure-aws-credentials, Lambda,
    # CodeBuild) is honoured too, as the hint below says.
    region_name = args.region or settings.region or os.environ.get("AWS_REGION", "").strip()
    session = boto3.session.Session(region_name=region_name or None)
    region = session.region_name
    if not region:
        raise ProbeError(
            "no AWS region", hint="set probe.region, --region or AWS_REGION/AWS_DEFAULT_REGION"
        )
    return session, str(region)


def _clients(args: argparse.Namespace, session: Any) -> tuple[Any, Any]:
    from botocore.config import Config  # noqa: PLC0415

    botocore_config = Config(
        retries={"mode": "adaptive", "max_attempts": 3}, connect_timeout=10, read_timeout=30
    )
    ecs = session.client("ecs", endpoint_url=args.endpoint_url, config=botocore_config)
    logs = session.client("logs", endpoint_url=args.endpoint_url, config=botocore_config)
    return ecs, logs


def _check_image_ref(settings: ProbeSettings, repository: str, *, push: bool) -> str:
    """The check image: as configured, or built from a static busybox (pushed if ``push``)."""
    if settings.check_image:
        return settings.check_image
    from soci_ci.app.stores import RegistryOptions, open_registry_image  # noqa: PLC0415
    from soci_ci.probe import check_image  # noqa: PLC0415

    image = check_image.build(check_image.find_busybox(str(settings.architecture)))
    ref = image.reference(repository)
    if push:
        check_image.push(image, open_registry_image(ref, RegistryOptions()))
        _progress(f"check image {ref} pushed ({len(image.layer.data)} bytes)")
    return ref


def _smoke(args: argparse.Namespace, settings: ProbeSettings, *, run_id: str) -> int:
    import time  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415

    from soci_ci.probe import preflight, smoke  # noqa: PLC0415
    from soci_ci.probe.ecs import EcsApi, Retrier  # noqa: PLC0415
    from soci_ci.probe.logs import LogsApi  # noqa: PLC0415
    from soci_ci.probe.runner import signal_guard  # noqa: PLC0415

    if not args.check_repository and not settings.check_image:
        raise UsageError(
            "--smoke needs --check-repository REGISTRY/REPO (an ECR repository of yours) "
            "or probe.check_image"
        )
    settings = settings.with_overrides(runs=1)
    settings.validate_for_run(arms=1)
    session, region = _session(args, settings)
    ecs_client, logs_client = _clients(args, session)
    retrier = Retrier(sleep=time.sleep)
    ecs = EcsApi(ecs_client, cluster=settings.cluster, retrier=retrier)
    logs = LogsApi(logs_client, retrier=retrier)
    with signal_guard():
        preflight.check_cluster(ecs, settings, _progress)
        preflight.check_log_group(logs, settings, run_id=run_id, warn=_progress)
        image = _check_image_ref(settings, args.check_repository or "", push=True)
        report = smoke.run(
            ecs=ecs,
            logs=logs,
            settings=settings,
            image=image,
            region=region,
            run_id=run_id,
            clock=lambda: datetime.now(UTC),
            sleep=time.sleep,
            progress=_progress,
        )
    if args.output_markdown is not None:
        args.output_markdown.write_text(report, encoding="utf-8")
    sys.stdout.write(report)
    return 0


def run(args: argparse.Namespace) -> int:
    import secrets  # noqa: PLC0415 - keep startup fast
    import time  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415

    from soci_ci.probe import markdown, preflight  # noqa: PLC0415
    from soci_ci.probe.arms import repository_of  # noqa: PLC0415
    from soci_ci.probe.ecs import EcsApi, Retrier  # noqa: PLC0415
    from soci_ci.probe.logs import LogsApi  # noqa: PLC0415
    from soci_ci.probe.runner import Probe, signal_guard  # noqa: PLC0415

    settings = load_probe_settings(args.config).with_overrides(runs=args.runs, cluster=args.cluster)
    now = datetime.now(UTC)
    run_id = f"soci-ci-probe-{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    if args.smoke:
        return _smoke(args, settings, run_id=run_id)
    probe_arms = _arms(args, settings)
    settings.validate_for_run(arms=len(probe_arms))  # exit 2 before any AWS call
    session, region = _session(args, settings)
    ecs_client, logs_client = _clients(args, session)
    retrier = Retrier(sleep=time.sleep)
    ecs = EcsApi(ecs_client, cluster=settings.cluster, retrier=retrier)
    logs = LogsApi(logs_client, retrier=retrier)
    repository = repository_of(probe_arms[0].image)
    with signal_guard():
        base = None
        if settings.task_definition:
            base = ecs.describe_task_definition(settings.task_definition)
        probe = Probe(
            ecs=ecs,
            logs=logs,
            settings=settings,
            arms=probe_arms,
            region=region,
            run_id=run_id,
            clock=lambda: datetime.now(UTC),
            sleep=time.sleep,
            progress=_progress,
            poll_seconds=args.poll_seconds,
            check_image=_check_image_ref(settings, repository, push=not args.check),
            base_definition=base,
        )
        if args.check:
            definitions = {str(k): v for k, v in probe.definitions().items()}
            sys.stdout.write(json.dumps({"task_definitions": definitions}, indent=2) + "\n")
            _progress(
                f"probe --check: {len(definitions)} task definition(s) valid; "
                "nothing was registered or started"
            )
            return 0
        preflight.check_cluster(ecs, settings, _progress)
        if preflight.check_log_group(logs, settings, run_id=run_id, warn=_progress):
            _progress(f"created log group {settings.log_group}")
        _progress(f"probe {run_id}: {len(probe_arms)} arm(s) x {settings.runs} run(s) in {region}")
        result = probe.run()
    if args.output_json is not None:
        args.output_json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    table = markdown.render(result)
    if args.output_markdown is not None:
        args.output_markdown.write_text(table, encoding="utf-8")
    sys.stdout.write(table)
    return 0
