"""`soci-ci probe`: time Fargate cold starts of the same image with and without SOCI.

Only argument handling lives here: the settings come from the config's ``probe`` section
(`--config`), the flags override some of them; the work is `soci_ci.app.probe_step`
(`run_probe`, `check_probe` for `--check`, `smoke_test` for `--smoke`). AWS endpoints:
botocore's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_ECS`` variables.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from soci_ci.errors import UsageError

if TYPE_CHECKING:
    from soci_ci.app.options import ProbeImages
    from soci_ci.config.model import Config


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
    parser.set_defaults(func=run)


def load(path: Path | None) -> Config:
    """The config file, or the schema's defaults without one."""
    from soci_ci.config import load_config, load_config_text  # noqa: PLC0415

    return load_config_text("version: 1\n") if path is None else load_config(path)


def _images(args: argparse.Namespace, baseline: str | None) -> ProbeImages:
    from soci_ci.app.options import ProbeImages  # noqa: PLC0415
    from soci_ci.probe import arms  # noqa: PLC0415 - keep startup fast

    if args.index_json is not None:
        if args.image_no_soci or args.image_soci:
            raise UsageError("use either --index-json or --image-no-soci/--image-soci")
        try:
            report = json.loads(args.index_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read --index-json {args.index_json}: {exc}") from exc
        found = arms.from_index_report(report)
        by_name = {str(a.name): a.image for a in found}
        return ProbeImages(no_soci=by_name["no-soci"], soci=by_name["soci"], baseline=baseline)
    if not (args.image_no_soci and args.image_soci):
        raise UsageError("give --image-no-soci and --image-soci, or --index-json")
    return ProbeImages(no_soci=args.image_no_soci, soci=args.image_soci, baseline=baseline)


def _progress(line: str) -> None:
    from soci_ci.ci.workflow_commands import neutralize  # noqa: PLC0415

    print(neutralize(line), file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from soci_ci.app import probe_step  # noqa: PLC0415 - boto3 lazily
    from soci_ci.app.options import ProbeOptions  # noqa: PLC0415
    from soci_ci.cli.registry_args import environment_registry_options  # noqa: PLC0415
    from soci_ci.report.probe import render  # noqa: PLC0415

    probe = load(args.config).probe
    settings = probe.settings.with_overrides(runs=args.runs, cluster=args.cluster)
    registry = environment_registry_options(args.environment, host=None)
    if args.smoke:
        report = probe_step.smoke_test(
            settings,
            check_repository=args.check_repository,
            region=args.region or args.environment.aws_region,
            registry=registry,
            progress=_progress,
        )
        if args.output_markdown is not None:
            args.output_markdown.write_text(report, encoding="utf-8")
        sys.stdout.write(report)
        return 0
    options = ProbeOptions(
        images=_images(args, args.image_baseline or settings.baseline_image),
        settings=settings,
        region=args.region or args.environment.aws_region,
        poll_seconds=probe.poll_seconds,
        registry=registry,
    )
    if args.check:
        definitions = probe_step.check_probe(options, progress=_progress)
        sys.stdout.write(json.dumps({"task_definitions": definitions}, indent=2) + "\n")
        _progress(
            f"probe --check: {len(definitions)} task definition(s) valid; "
            "nothing was registered or started"
        )
        return 0
    result = probe_step.run_probe(options, progress=_progress)
    if args.output_json is not None:
        args.output_json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    table = render(result)
    if args.output_markdown is not None:
        args.output_markdown.write_text(table, encoding="utf-8")
    sys.stdout.write(table)
    return 0
