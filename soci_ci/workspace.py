"""The workspace: the one directory soci-ci reads the user's files from and writes them to.

It is ``GITHUB_WORKSPACE`` on GitHub, ``CODEBUILD_SRC_DIR`` on CodeBuild, else the current
directory. Every path that comes from settings (build context, Dockerfile, config file, JUnit
file, work directory) goes through `resolve_inside` before anything runs: relative paths are
taken from the workspace, symbolic links are followed, and the result must still be inside
the workspace (or one of the extra roots a caller names, e.g. a temporary directory soci-ci
created itself). Anything else is a `ConfigError` (exit 2) naming the setting, so a pull
request's ``image.dockerfile: /home/runner/.docker/config.json`` or ``report.junit: ../../x``
never reaches docker or the disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from soci_ci.errors import ConfigError

WORKSPACE_ENV = ("GITHUB_WORKSPACE", "CODEBUILD_SRC_DIR")
_HINT = "use a path inside the repository (relative to its root); symbolic links must stay inside"


def workspace_root(environ: Mapping[str, str], *, cwd: Path | None = None) -> Path:
    """The workspace directory, symbolic links resolved."""
    for name in WORKSPACE_ENV:
        value = environ.get(name, "").strip()
        if value:
            return Path(os.path.realpath(value))
    return Path(os.path.realpath(cwd if cwd is not None else Path.cwd()))


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` (already resolved) is ``root`` or below it."""
    return path == root or root in path.parents


def resolve_inside(
    workspace: Path,
    path: str | os.PathLike[str],
    key: str,
    *,
    base: Path | None = None,
    extra_roots: Sequence[Path] = (),
    allow_git: bool = False,
) -> Path:
    """``path`` resolved (relative to ``base``, default the workspace), symlinks followed.

    Raises `ConfigError` naming ``key`` when the result is outside the workspace and outside
    every root of ``extra_roots``, or inside a ``.git`` directory of the workspace (unless
    ``allow_git``: a build context may contain one, a file read or written may not be in it).
    Paths that do not exist yet (an output file) are resolved as far as they exist: a link in
    any existing component counts.
    """
    text = os.fspath(path)
    if "\x00" in text:
        raise ConfigError(f"{key}: the path contains a NUL character", hint=_HINT)
    if not text.strip():
        raise ConfigError(f"{key}: the path is empty", hint=_HINT)
    root = Path(os.path.realpath(workspace))
    start = base if base is not None else root
    candidate = Path(os.path.realpath(Path(start) / text))
    roots = [root, *(Path(os.path.realpath(r)) for r in extra_roots)]
    shown = text if len(text) <= 200 else text[:200] + "…"
    if any(is_inside(candidate, r) for r in roots):
        if not allow_git and is_inside(candidate, root):
            inner = candidate.relative_to(root).parts
            if any(part.lower() == ".git" for part in inner):
                raise ConfigError(
                    f"{key}: {shown!r} is inside the repository's .git directory "
                    "(its config can hold the checkout's credentials)",
                    hint=_HINT,
                )
        return candidate
    raise ConfigError(
        f"{key}: {shown!r} resolves outside the workspace ({root}); refused before anything ran",
        hint=_HINT,
    )


def relative_to_workspace(workspace: Path, path: Path) -> str:
    """``path`` as the repository names it (for annotations); the path itself if outside."""
    resolved = Path(os.path.realpath(path))
    root = Path(os.path.realpath(workspace))
    if is_inside(resolved, root):
        return resolved.relative_to(root).as_posix() or "."
    return path.as_posix()
