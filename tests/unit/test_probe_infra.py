"""infra/probe.yaml: cfn-lint passes, and its runner policy allows every call the probe makes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "probe.yaml"
# Every AWS action soci_ci/probe makes on the runner's behalf (ecs.py, logs.py, preflight.py).
PROBE_ACTIONS = {
    "ecs:DescribeClusters",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:DeleteTaskDefinitions",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ecs:RunTask",
    "ecs:TagResource",
    "ecs:DescribeTasks",
    "ecs:StopTask",
    "ecs:ListTasks",
    "iam:PassRole",
    "logs:GetLogEvents",
    "logs:DescribeLogGroups",
    "ecr:GetAuthorizationToken",
    "ecr:PutImage",
    "ecr:InitiateLayerUpload",
}


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _tag)


def test_cfn_lint_passes() -> None:
    exe = shutil.which("cfn-lint")
    command = [exe] if exe else [sys.executable, "-m", "cfnlint"]
    done = subprocess.run(
        [*command, str(TEMPLATE)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_runner_policy_covers_the_probe() -> None:
    template = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_Loader)
    resources = template["Resources"]
    statements = resources["ProbeRunnerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allowed: set[str] = set()
    for statement in statements:
        actions = statement["Action"]
        allowed |= {actions} if isinstance(actions, str) else set(actions)
    assert allowed >= PROBE_ACTIONS, sorted(PROBE_ACTIONS - allowed)
    assert all("*" not in a for a in allowed)  # no wildcard actions
    assert resources["Cluster"]["Properties"]["CapacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
