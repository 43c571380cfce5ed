"""Files soci-ci writes into the workspace belong to the workspace's owner.

A container action runs as root, so what it creates in the bind-mounted workspace would be
root-owned on the runner, and a later step (or the runner's cleanup) could not remove it.
When running as root, every path written under the workspace (and the directories created for
it, up to the workspace) is given the owner of the workspace directory itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return path != root


def give_to_workspace_owner(paths: Iterable[Path], workspace: Path) -> int:
    """chown each existing path under `workspace` (recursively for directories, and its
    parents up to the workspace) to the workspace's uid/gid; returns how many were changed.
    Symbolic links are changed themselves, never followed."""
    if os.geteuid() != 0:
        return 0
    root = Path(os.path.abspath(workspace))  # noqa: PTH100 - links are not followed
    try:
        owner = root.stat()
    except OSError:
        return 0
    if owner.st_uid == 0 and owner.st_gid == 0:
        return 0
    changed = 0
    todo: list[Path] = []
    for given in paths:
        path = Path(os.path.abspath(given))  # noqa: PTH100 - links are not followed
        if not _inside(path, root) or not os.path.lexists(path):
            continue
        parent = path.parent
        while _inside(parent, root):
            todo.append(parent)
            parent = parent.parent
        todo.append(path)
        if path.is_dir() and not path.is_symlink():
            todo += list(path.rglob("*"))
    for item in dict.fromkeys(todo):
        with contextlib.suppress(OSError):
            if item.lstat().st_uid != owner.st_uid or item.lstat().st_gid != owner.st_gid:
                os.lchown(item, owner.st_uid, owner.st_gid)
                changed += 1
    if changed:
        log.info("gave %d file(s) in the workspace to uid %d", changed, owner.st_uid)
    return changed
