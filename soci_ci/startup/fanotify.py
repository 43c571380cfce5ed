"""fanotify(7) through ctypes: a notification group, filesystem marks, and its event stream.

Only what the recorder needs: ``FAN_CLASS_NOTIF`` (the watched processes never wait for us),
an unlimited queue (nothing is dropped while the container starts), ``FAN_MARK_FILESYSTEM``
marks for open and exec events. Needs CAP_SYS_ADMIN (root on the engine's host, or a
helper container given that capability).
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import NamedTuple

FAN_CLOEXEC = 0x1
FAN_NONBLOCK = 0x2
FAN_CLASS_NOTIF = 0x0
FAN_UNLIMITED_QUEUE = 0x10
FAN_MARK_ADD = 0x1
FAN_MARK_FILESYSTEM = 0x100
FAN_ACCESS = 0x1
FAN_OPEN = 0x20
FAN_OPEN_EXEC = 0x1000
FAN_Q_OVERFLOW = 0x4000
FAN_NOFD = -1
AT_FDCWD = -100
# Opens and execs only: every read, exec and mmap of a file starts with an open of it, which
# is where its first access is recorded (FAN_ACCESS would add one event per read() call).
WATCHED = FAN_OPEN | FAN_OPEN_EXEC

_METADATA = struct.Struct("<IBBHQii")  # struct fanotify_event_metadata
_VERSION = 3  # FANOTIFY_METADATA_VERSION


class FanotifyUnavailable(OSError):
    """fanotify cannot be used here (no CAP_SYS_ADMIN, seccomp, old kernel)."""


class Event(NamedTuple):
    mask: int
    fd: int  # an open read-only descriptor of the file (the reader must close it), or -1
    pid: int


def _libc() -> ctypes.CDLL:
    # The C library the interpreter is linked with (no ctypes.util: it runs ldconfig).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
    libc.fanotify_init.restype = ctypes.c_int
    libc.fanotify_mark.argtypes = [
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint64,
        ctypes.c_int,
        ctypes.c_char_p,
    ]
    libc.fanotify_mark.restype = ctypes.c_int
    return libc


class Group:
    """One fanotify group; `mark_filesystem` for each filesystem to watch, then `read`."""

    def __init__(self) -> None:
        try:
            self._libc = _libc()
        except (OSError, AttributeError) as exc:
            raise FanotifyUnavailable(f"libc has no fanotify: {exc}") from None
        flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE
        event_flags = os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC
        fd = self._libc.fanotify_init(flags, event_flags)
        if fd < 0:
            errno = ctypes.get_errno()
            raise FanotifyUnavailable(errno, f"fanotify_init: {os.strerror(errno)}")
        self.fd = fd

    def mark_filesystem(self, path: str, mask: int = WATCHED) -> None:
        rc = self._libc.fanotify_mark(
            self.fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, os.fsencode(path)
        )
        if rc < 0:
            errno = ctypes.get_errno()
            raise FanotifyUnavailable(errno, f"fanotify_mark {path}: {os.strerror(errno)}")

    def read(self) -> list[Event]:
        """The events queued now ([] when the queue is empty: the group is non-blocking).

        Every event's `fd` belongs to the caller, who must close it.
        """
        try:
            buf = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        events = []
        at = 0
        while at + _METADATA.size <= len(buf):
            length, version, _, _, mask, fd, pid = _METADATA.unpack_from(buf, at)
            if length < _METADATA.size:
                break
            events.append(Event(mask=mask, fd=fd, pid=pid))
            at += length
        if events and version != _VERSION:
            for event in events:
                if event.fd >= 0:
                    os.close(event.fd)
            raise FanotifyUnavailable(f"unexpected fanotify metadata version {version}")
        return events

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
