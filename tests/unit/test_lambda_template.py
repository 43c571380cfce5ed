"""infra/soci-index-lambda.yaml: cfn-lint clean, and its EventBridge rule filters exactly what
the function would skip anyway (checked with moto's implementation of EventBridge patterns,
an independent matcher, on the recorded ECR events)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto.events.models import EventPattern

from soci_ci.push.decide import decide_by_event, event_pattern
from soci_ci.push.event import parse_push_event
from soci_ci.push.settings import PushSettings, Untagged

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "soci-index-lambda.yaml"
EVENTS = ROOT / "tests" / "data" / "ecr_events"


def test_cfn_lint_passes() -> None:
    cfn_lint = shutil.which("cfn-lint")
    assert cfn_lint is not None, "cfn-lint (dev dependency) is missing"
    result = subprocess.run([cfn_lint, str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def resolve(node: Any, params: dict[str, str], conditions: dict[str, bool]) -> Any:
    """The few intrinsics the rule uses: Ref to a parameter and Fn::If."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in params:
            return params[node["Ref"]]
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return resolve(yes if conditions[name] else no, params, conditions)
        return {k: resolve(v, params, conditions) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, params, conditions) for v in node]
    return node


def rule_pattern(repository_pattern: str, untagged: str) -> dict[str, Any]:
    template = yaml.safe_load(TEMPLATE.read_text())
    pattern = template["Resources"]["PushRule"]["Properties"]["EventPattern"]
    params = {"RepositoryPattern": repository_pattern, "UntaggedPushes": untagged}
    return dict(resolve(pattern, params, {"IndexUntagged": untagged == "index"}))


def variants() -> list[dict[str, Any]]:
    out = []
    for path in sorted(EVENTS.glob("*.json")):
        base = json.loads(path.read_text())
        out.append(base)
        for tag in ("1.0-soci", "v2", None):
            e = copy.deepcopy(base)
            if tag is None:
                e["detail"].pop("image-tag", None)
            else:
                e["detail"]["image-tag"] = tag
            out.append(e)
        e = copy.deepcopy(base)
        e["detail"]["repository-name"] = "team/service"
        out.append(e)
    return out


@pytest.mark.parametrize(
    ("repository_pattern", "untagged"), [("*", "skip"), ("*", "index"), ("team/*", "skip")]
)
def test_rule_drops_only_what_the_function_skips(repository_pattern: str, untagged: str) -> None:
    settings = PushSettings(repositories=(repository_pattern,), untagged=Untagged(untagged))
    template_rule = rule_pattern(repository_pattern, untagged)
    matcher = EventPattern.load(json.dumps(template_rule))
    generated = EventPattern.load(json.dumps(event_pattern(settings)))
    dropped = kept = 0
    for event in variants():
        wanted = decide_by_event(parse_push_event(event), settings) is None
        delivered = matcher.matches_event(event)
        assert generated.matches_event(event) == delivered, event["detail"]
        if wanted:
            assert delivered, f"the rule drops a push the function would index: {event['detail']}"
            kept += 1
        elif not delivered:
            dropped += 1
    assert kept and dropped  # both sides exercised
