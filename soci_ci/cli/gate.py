"""`soci-ci gate`: thresholds + significance over a probe result -> pass / fail / neutral."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from soci_ci.errors import ConfigError, InputError, UsageError


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


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InputError(f"{what} {path} is not valid JSON: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    from soci_ci.config import load_config  # noqa: PLC0415
    from soci_ci.gate import baseline as bl  # noqa: PLC0415
    from soci_ci.gate.thresholds import evaluate  # noqa: PLC0415
    from soci_ci.gate.verdict import Verdict  # noqa: PLC0415
    from soci_ci.probe.model import ProbeResult  # noqa: PLC0415
    from soci_ci.report.junit import render_junit  # noqa: PLC0415
    from soci_ci.report.markdown import ReportInput, render_markdown  # noqa: PLC0415
    from soci_ci.report.text import render_text  # noqa: PLC0415

    config = load_config(args.config)
    result = None
    if args.results is not None:
        try:
            result = ProbeResult.from_json(_read_json(args.results, "probe results"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{args.results} is not a probe result: {exc}") from exc
    source = str(config.baseline.get("source", "auto"))
    base = None
    if args.baseline not in ("auto", "none") and source != "none":
        base = bl.from_record(_read_json(Path(args.baseline), "baseline"))
    elif args.baseline == "auto" and result is not None and source in ("auto", "arm", "store"):
        base = bl.from_arm(result) if source != "store" else None
        store = config.baseline.get("store")
        if base is None and source != "arm" and store and args.baseline_key:
            repo, _, rest = str(args.baseline_key).partition(":")
            branch, _, image = rest.partition(":")
            if not (repo and branch and image):
                raise UsageError("--baseline-key must be repository:branch:image")
            key = bl.StoreKey(repository=repo, branch=branch, image=image)
            record = bl.open_store(str(store)).read(key)
            base = None if record is None else bl.from_record(record, key)
    neutral = args.neutral_reason
    if result is None and neutral is None:
        neutral = "no probe results"
    if not config.has_thresholds and neutral is None:
        raise ConfigError(f"{args.config} has no thresholds section; nothing to gate")
    outcome = evaluate(result, config.thresholds, base, neutral_reason=neutral)
    from soci_ci.ci.workflow_commands import neutralize  # noqa: PLC0415

    print(neutralize(render_text(outcome)), end="")
    report = ReportInput(
        name=args.name,
        outcome=outcome,
        result=result,
        baseline=base,
        index_digest=args.index_digest,
        chart=bool(config.report.get("chart", True)),
    )
    if args.markdown_out is not None:
        args.markdown_out.write_text(render_markdown(report), encoding="utf-8")
    if args.junit is not None:
        args.junit.write_text(render_junit(outcome), encoding="utf-8")
    if args.json_out is not None:
        data = outcome.to_json() | {"baseline": None if base is None else base.label}
        args.json_out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 1 if outcome.verdict is Verdict.FAIL else 0
