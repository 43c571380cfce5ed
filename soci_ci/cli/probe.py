"""`soci-ci probe`: time Fargate cold starts of the same image with and without SOCI.

Only argument handling lives here; boto3 and the probe package are imported inside ``run``
so that `soci-ci` starts fast.
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
    parser.add_argument(
        "--sidecar-image",
        metavar="REF",
        help="image with sh + wget for the snapshotter check "
        "(default: public.ecr.aws/docker/library/busybox:stable)",
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


def run(args: argparse.Namespace) -> int:
    import secrets  # noqa: PLC0415 - keep startup fast
    import time  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415

    import boto3  # noqa: PLC0415 - boto3 takes ~0.3 s to import
    from botocore.config import Config  # noqa: PLC0415

    from soci_ci.errors import ProbeError  # noqa: PLC0415
    from soci_ci.probe import markdown  # noqa: PLC0415
    from soci_ci.probe.ecs import EcsApi, Retrier  # noqa: PLC0415
    from soci_ci.probe.logs import LogsApi  # noqa: PLC0415
    from soci_ci.probe.runner import Probe, signal_guard  # noqa: PLC0415
    from soci_ci.probe.task_definition import DEFAULT_SIDECAR_IMAGE  # noqa: PLC0415

    settings = load_probe_settings(args.config).with_overrides(runs=args.runs, cluster=args.cluster)
    probe_arms = _arms(args, settings)
    import os  # noqa: PLC0415

    # boto3 reads AWS_DEFAULT_REGION only; AWS_REGION (configure-aws-credentials, Lambda,
    # CodeBuild) is honoured too, as the hint below says.
    region_name = args.region or settings.region or os.environ.get("AWS_REGION", "").strip()
    session = boto3.session.Session(region_name=region_name or None)
    region = session.region_name
    if not region:
        raise ProbeError(
            "no AWS region", hint="set probe.region, --region or AWS_REGION/AWS_DEFAULT_REGION"
        )
    botocore_config = Config(retries={"mode": "adaptive", "max_attempts": 5})
    ecs_client = session.client("ecs", endpoint_url=args.endpoint_url, config=botocore_config)
    logs_client = session.client("logs", endpoint_url=args.endpoint_url, config=botocore_config)
    retrier = Retrier(sleep=time.sleep)
    now = datetime.now(UTC)
    run_id = f"soci-ci-probe-{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    probe = Probe(
        ecs=EcsApi(ecs_client, cluster=settings.cluster, retrier=retrier),
        logs=LogsApi(logs_client, retrier=retrier),
        settings=settings,
        arms=probe_arms,
        region=region,
        run_id=run_id,
        clock=lambda: datetime.now(UTC),
        sleep=time.sleep,
        progress=_progress,
        poll_seconds=args.poll_seconds,
        sidecar_image=args.sidecar_image or DEFAULT_SIDECAR_IMAGE,
    )
    _progress(f"probe {run_id}: {len(probe_arms)} arm(s) x {settings.runs} run(s) in {region}")
    with signal_guard():
        result = probe.run()
    if args.output_json is not None:
        args.output_json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    table = markdown.render(result)
    if args.output_markdown is not None:
        args.output_markdown.write_text(table, encoding="utf-8")
    sys.stdout.write(table)
    return 0
