"""The pinned runtime dependencies (`requirements.lock`) as the tests compare them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def runtime_pins(lock: Path = ROOT / "requirements.lock") -> dict[str, str]:
    """Package name -> pinned version, from `name==version` lines (comments dropped)."""
    pins = {}
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name] = version
    return pins
