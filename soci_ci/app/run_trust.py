"""What a run may take from the checkout: the config file layer and every path, checked.

`trusted_file_layer` reads the config file (inside the workspace, bounded) and, on a pull
request, replaces its trusted settings by the base branch's (`soci_ci.config.trust`).
`confine_paths` resolves every path of the run inside the workspace (symlinks followed) or
ends it with exit 2 before anything runs. The CLI calls both before the pipeline starts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soci_ci.ci.context import CiContext
from soci_ci.config.trust import TrustDecision, decide_trust
from soci_ci.errors import ConfigError
from soci_ci.workspace import relative_to_workspace, resolve_inside

if TYPE_CHECKING:
    from soci_ci.app.pipeline import RunOptions


def config_name(workspace: Path, config_path: Path) -> str:
    """How errors and annotations name the config file: its path in the repository."""
    return relative_to_workspace(workspace, config_path)


def trusted_file_layer(
    config_path: Path | None,
    *,
    workspace: Path,
    ctx: CiContext,
    token: str | None,
    search_path: str,
) -> tuple[dict[str, Any], TrustDecision]:
    """The file layer for `resolve` and the trust decision behind it (see the module doc);
    ``search_path`` is the PATH that git (reading the base branch's config) is found on."""
    from soci_ci.config.loader import read_config  # noqa: PLC0415 - jsonschema lazily

    pull_request = ctx.pr_number is not None
    if config_path is None:
        return {}, decide_trust({}, pull_request=pull_request, base_data={}, base="no config")
    resolved = resolve_inside(workspace, config_path, "config", base=Path.cwd())
    name = config_name(workspace, resolved)
    data = read_config(resolved, name=name).data
    if not pull_request:
        return data, decide_trust(data, pull_request=False, base_data=None)
    if ctx.fork:  # nothing runs on a fork; keep none of its trusted settings either
        decision = decide_trust(data, pull_request=True, base_data=None, base="fork")
        return dict(decision.data), replace(decision, ignored=())
    base_data, source = _base_data(workspace, name, ctx, token, search_path)
    decision = decide_trust(data, pull_request=True, base_data=base_data, base=source)
    return dict(decision.data), decision


def _base_data(
    workspace: Path, name: str, ctx: CiContext, token: str | None, search_path: str
) -> tuple[Mapping[str, Any] | None, str]:
    from soci_ci.ci.base_config import fetch_base_config  # noqa: PLC0415
    from soci_ci.config.loader import parse_config, validate  # noqa: PLC0415

    found = fetch_base_config(
        workspace=workspace,
        relpath=name,
        base_sha=ctx.base_sha,
        base_branch=ctx.base_ref,
        repository=ctx.repository,
        api_url=ctx.api_url,
        token=token,
        search_path=search_path,
    )
    if not found.found:
        return None, found.source
    if found.text is None:
        return {}, found.source
    label = f"{name} (base branch)"
    try:
        parsed = parse_config(found.text, name=label)
        validate(parsed.data, node=parsed.node, name=label)
    except ConfigError as exc:
        return None, f"{found.source}: invalid: {exc}"
    return parsed.data, found.source


_WORK_DIR_ENTRIES = 10_000


def _check_work_dir(path: Path, given: Path) -> None:
    """A work directory that already exists (a pull request can commit one) may hold only
    directories and regular files: a symbolic link in it would redirect a step's output
    file outside the workspace."""
    if not path.exists():
        return
    if not path.is_dir():
        raise ConfigError(f"work-dir: {os.fspath(given)!r} exists and is not a directory")
    for count, entry in enumerate(path.rglob("*")):
        if count > _WORK_DIR_ENTRIES:
            raise ConfigError(f"work-dir: {os.fspath(given)!r} holds too many files")
        if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
            raise ConfigError(
                f"work-dir: {os.fspath(given)!r} holds {entry.name!r}, which is not a regular "
                "file or directory",
                hint="remove it from the repository, or point work-dir at an empty directory",
            )


def confine_paths(
    options: RunOptions, *, workspace: Path, environ: Mapping[str, str]
) -> RunOptions:
    """``options`` with the context, Dockerfile, JUnit file and work directory resolved inside
    the workspace (the work directory may also be in ``RUNNER_TEMP`` or the temp directory)."""
    cwd = Path.cwd()
    context = resolve_inside(workspace, options.context, "image.context", base=cwd, allow_git=True)
    dockerfile = resolve_inside(workspace, options.dockerfile, "image.dockerfile", base=context)
    junit = (
        resolve_inside(workspace, options.junit, "report.junit", base=cwd)
        if options.junit is not None
        else None
    )
    temp_roots = [Path(tempfile.gettempdir())]
    runner_temp = environ.get("RUNNER_TEMP", "").strip()
    if runner_temp:
        temp_roots.append(Path(runner_temp))
    work_dir = None
    if options.work_dir is not None:
        work_dir = resolve_inside(
            workspace, options.work_dir, "work-dir", base=cwd, extra_roots=temp_roots
        )
        _check_work_dir(work_dir, options.work_dir)
    if context.exists() and not context.is_dir():
        raise ConfigError(f"image.context: {os.fspath(options.context)!r} is not a directory")
    return replace(
        options,
        context=context,
        dockerfile=str(dockerfile),
        junit=junit,
        work_dir=work_dir,
    )
