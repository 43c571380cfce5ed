"""`soci-ci gate`: thresholds + significance over a probe result -> pass / fail / neutral."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from soci_ci.errors import InputError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="judge probe results against the config thresholds",
        description="Exit 0 on pass or neutral, 1 on fail, 2 on a bad config.",
    )
    parser.add_argument("--config", type=Path, required=True, help=".soci-ci.yml")
    parser.add_argument("--results", type=Path, help="probe JSON (soci-ci probe --output-json)")
    parser.add_argument(
        "--baseline",
        default="auto",
        help="FILE (stored baseline record), 'auto' (third arm, else the config store), or 'none'",
    )
    parser.add_argument("--baseline-key", help="repository:branch:image for the baseline store")
    parser.add_argument("--name", default="default", help="report marker name")
    parser.add_argument("--neutral-reason", help="force a neutral verdict (e.g. fork PR)")
    parser.add_argument("--index-digest", help="SOCI index digest to show in the report")
    parser.add_argument("--markdown-out", type=Path, help="write the PR comment / summary here")
    parser.add_argument("--junit", type=Path, help="write JUnit XML here")
    parser.add_argument("--json-out", type=Path, help="write the verdict as JSON here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace  # noqa: PLC0415

    from soci_ci.app.measure import read_json, run_gate  # noqa: PLC0415
    from soci_ci.app.options import gate_options  # noqa: PLC0415
    from soci_ci.ci.workflow_commands import neutralize  # noqa: PLC0415
    from soci_ci.config import load_config  # noqa: PLC0415
    from soci_ci.config.model import BaselineSource  # noqa: PLC0415
    from soci_ci.gate.baseline import StoreKey  # noqa: PLC0415
    from soci_ci.gate.verdict import Verdict  # noqa: PLC0415
    from soci_ci.probe.model import ProbeResult  # noqa: PLC0415
    from soci_ci.report.junit import render_junit  # noqa: PLC0415
    from soci_ci.report.markdown import ReportInput, render_markdown  # noqa: PLC0415
    from soci_ci.report.text import render_text  # noqa: PLC0415

    config = load_config(args.config)
    result = None
    if args.results is not None:
        try:
            result = ProbeResult.from_json(read_json(args.results, "probe results"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{args.results} is not a probe result: {exc}") from exc
    options = gate_options(
        config,
        key=StoreKey.parse(args.baseline_key) if args.baseline_key else None,
        record_file=None if args.baseline in ("auto", "none") else Path(args.baseline),
        name=args.name,
        neutral_reason=args.neutral_reason,
        index_digest=args.index_digest,
    )
    if args.baseline == "none":
        options = replace(options, baseline=replace(options.baseline, source=BaselineSource.NONE))
    gate = run_gate(options, result)
    outcome = gate.outcome
    print(neutralize(render_text(outcome)), end="")
    report = ReportInput(
        name=args.name,
        outcome=outcome,
        result=result,
        baseline=gate.baseline,
        index_digest=args.index_digest,
        chart=options.chart,
    )
    if args.markdown_out is not None:
        args.markdown_out.write_text(render_markdown(report), encoding="utf-8")
    if args.junit is not None:
        args.junit.write_text(render_junit(outcome), encoding="utf-8")
    if args.json_out is not None:
        base = gate.baseline
        data = outcome.to_json() | {"baseline": None if base is None else base.label}
        args.json_out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 1 if outcome.verdict is Verdict.FAIL else 0
