"""A file name from the image cannot start a GitHub workflow command in the startup table."""

from __future__ import annotations

from soci_ci.ci.workflow_commands import neutralize
from soci_ci.startup.table import render_table
from tests.support.startup_reports import startup_report


def test_a_hostile_file_name_starts_no_workflow_command() -> None:
    path = "/app/x\n::add-mask::secret\n::stop-commands::tok"
    digest = "sha256:" + "a" * 64
    report = startup_report(
        f"registry.example/app@{digest}", digest, [(path, "sha256:" + "1" * 64)]
    )
    raw = render_table(report)
    assert any(line.startswith("::") for line in raw.splitlines())  # the danger is real
    assert not any(line.startswith("::") for line in neutralize(raw).splitlines())
