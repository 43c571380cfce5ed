"""A file name from the image cannot start a GitHub workflow command in the startup table."""

from __future__ import annotations

from soci_ci.ci.workflow_commands import neutralize
from soci_ci.startup.model import FileRead, RecordingInfo, StartupFiles, StartupReport, Totals
from soci_ci.startup.table import render_table


def test_a_hostile_file_name_starts_no_workflow_command() -> None:
    path = "/app/x\n::add-mask::secret\n::stop-commands::tok"
    report = StartupReport(
        image="registry.example/app@sha256:" + "a" * 64,
        manifest_digest="sha256:" + "a" * 64,
        platform="linux/amd64",
        ztoc_source="registry",
        recording=RecordingInfo(mode="local", driver="vfs", ready_by="log", ready_seconds=0.5),
        result=StartupFiles(
            files=(FileRead(path=path, layer="sha256:" + "1" * 64, size=10, kind="open"),),
            layers=(),
            totals=Totals(
                image_bytes=100,
                startup_files=1,
                startup_file_bytes=10,
                fetch_bytes=0,
                fetch_requests=0,
            ),
        ),
    )
    raw = render_table(report)
    assert any(line.startswith("::") for line in raw.splitlines())  # the danger is real
    assert not any(line.startswith("::") for line in neutralize(raw).splitlines())
