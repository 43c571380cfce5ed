"""Which run starts when (pure): arms interleaved A B A B ..., in waves of at most
``concurrency`` tasks, each RunTask call launching at most 10 tasks of one arm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

from soci_ci.probe.model import ArmName

RUN_TASK_MAX_COUNT = 10  # ECS RunTask `count` limit


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    arm: ArmName
    index: int  # 1-based run number within the arm
    ordinal: int  # 1-based position in the whole probe
    attempt: int = 1  # > 1: re-run after an infrastructure failure


@dataclass(frozen=True, slots=True, kw_only=True)
class Launch:
    """One RunTask call: ``count == len(slots)`` tasks of the same arm."""

    arm: ArmName
    slots: tuple[Slot, ...]

    @property
    def count(self) -> int:
        return len(self.slots)


def interleave(arms: Sequence[ArmName], runs: int) -> list[Slot]:
    """A B C A B C ... : every arm's k-th run before any arm's (k+1)-th."""
    if runs < 1 or not arms:
        return []
    order = [(arm, k) for k in range(1, runs + 1) for arm in arms]
    return [Slot(arm=a, index=k, ordinal=i) for i, (a, k) in enumerate(order, start=1)]


def waves(slots: Sequence[Slot], concurrency: int) -> list[tuple[Slot, ...]]:
    """Consecutive groups of at most ``concurrency`` slots (one wave runs at a time)."""
    size = max(1, concurrency)
    return [tuple(slots[i : i + size]) for i in range(0, len(slots), size)]


def launches(wave: Sequence[Slot]) -> list[Launch]:
    """RunTask calls for one wave: adjacent slots of one arm share a call (≤ 10)."""
    out: list[Launch] = []
    for arm, group in groupby(wave, key=lambda s: s.arm):
        items = tuple(group)
        for i in range(0, len(items), RUN_TASK_MAX_COUNT):
            out.append(Launch(arm=arm, slots=items[i : i + RUN_TASK_MAX_COUNT]))
    return out
