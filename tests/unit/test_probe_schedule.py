from __future__ import annotations

from soci_ci.probe.model import ArmName
from soci_ci.probe.schedule import interleave, launches, waves

A, B, C = ArmName.NO_SOCI, ArmName.SOCI, ArmName.BASELINE


def test_interleave_abab() -> None:
    slots = interleave([A, B], 3)
    assert [(s.arm, s.index, s.ordinal) for s in slots] == [
        (A, 1, 1),
        (B, 1, 2),
        (A, 2, 3),
        (B, 2, 4),
        (A, 3, 5),
        (B, 3, 6),
    ]
    assert [s.arm for s in interleave([A, B, C], 2)] == [A, B, C, A, B, C]
    assert interleave([A], 0) == []


def test_waves_and_launch_counts() -> None:
    slots = interleave([A, B], 3)
    assert [len(w) for w in waves(slots, 4)] == [4, 2]
    assert [[lc.arm for lc in launches(w)] for w in waves(slots, 4)] == [[A, B, A, B], [A, B]]


def test_single_arm_launches_at_most_ten_per_run_task() -> None:
    slots = interleave([B], 23)
    assert [lc.count for lc in launches(slots)] == [10, 10, 3]
    assert [s.index for s in launches(slots)[2].slots] == [21, 22, 23]
