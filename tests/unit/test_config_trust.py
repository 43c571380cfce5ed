"""On a pull request the trusted settings come from the base branch, never from the PR."""

from __future__ import annotations

from typing import Any

from soci_ci.config.trust import TRUSTED_SETTINGS, decide_trust

BASE: dict[str, Any] = {
    "version": 1,
    "image": {"repository": "123.dkr.ecr.us-east-1.amazonaws.com/app", "context": "."},
    "probe": {
        "enabled": True,
        "cluster": "ci",
        "task_definition": "app-ci",
        "network": {"subnets": ["subnet-1"]},
    },
}


def _pr(**changes: Any) -> dict[str, Any]:
    import copy

    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return data


def test_branch_runs_take_the_file_as_it_is() -> None:
    pr = _pr(image__repository="evil.example/x")
    decision = decide_trust(pr, pull_request=False, base_data=None)
    assert decision.data == pr
    assert decision.report_lines() == []


def test_a_pull_request_changing_trusted_settings_gets_the_base_values_and_a_line() -> None:
    pr = _pr(
        image__repository="evil.example/x",
        probe__task_definition="payments-prod",
        probe__task_role_arn="arn:aws:iam::1:role/admin",
        probe__runs=3,
        image__context="app",
    )
    decision = decide_trust(pr, pull_request=True, base_data=BASE, base="git 9049f1265b7d")
    assert decision.data["image"] == {"repository": BASE["image"]["repository"], "context": "app"}
    assert decision.data["probe"]["task_definition"] == "app-ci"
    assert "task_role_arn" not in decision.data["probe"]
    assert decision.data["probe"]["runs"] == 3  # not a trusted setting: the PR's value
    assert [i.path for i in decision.ignored] == [
        "image.repository",
        "probe.task_definition",
        "probe.task_role_arn",
    ]
    assert decision.report_lines() == [
        "trusted settings are read from the base branch's config (git 9049f1265b7d), not from "
        "the pull request's",
        'ignored from the pull request\'s config: image.repository = "evil.example/x" '
        '(a trusted setting; using "123.dkr.ecr.us-east-1.amazonaws.com/app" from the base '
        "branch)",
        'ignored from the pull request\'s config: probe.task_definition = "payments-prod" '
        '(a trusted setting; using "app-ci" from the base branch)',
        "ignored from the pull request's config: probe.task_role_arn = "
        '"arn:aws:iam::1:role/admin" (a trusted setting; using the workflow\'s value or the '
        "default)",
    ]


def test_an_unchanged_config_is_silent() -> None:
    decision = decide_trust(_pr(), pull_request=True, base_data=BASE, base="git x")
    assert decision.ignored == ()
    assert decision.data == BASE


def test_removing_a_trusted_setting_in_the_pr_keeps_the_base_value() -> None:
    pr = _pr()
    del pr["probe"]["network"]
    decision = decide_trust(pr, pull_request=True, base_data=BASE, base="git x")
    assert decision.data["probe"]["network"] == {"subnets": ["subnet-1"]}
    assert [i.pr_value for i in decision.ignored] == ["(unset)"]


def test_without_a_readable_base_every_trusted_setting_of_the_pr_is_ignored() -> None:
    pr = _pr(baseline__store="s3://attacker/x")
    decision = decide_trust(pr, pull_request=True, base_data=None, base="HTTP 403")
    for path in TRUSTED_SETTINGS:
        node: Any = decision.data
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        assert node is None, path
    lines = decision.report_lines()
    assert lines[0].startswith("the base branch's config could not be read (HTTP 403)")
    assert len(lines) == 1 + len(decision.ignored) == 1 + 5


def test_a_config_added_by_the_pr_has_no_trusted_settings() -> None:
    decision = decide_trust(_pr(), pull_request=True, base_data={}, base="no config file")
    assert "repository" not in decision.data["image"]
    assert decision.base_available


def test_values_in_lines_are_shortened() -> None:
    pr = _pr(image__repository="x" * 10_000)
    line = decide_trust(pr, pull_request=True, base_data=BASE).report_lines()[1]
    assert line.startswith("ignored from the pull request")
    assert len(line) < 300
