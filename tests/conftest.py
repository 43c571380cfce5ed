"""Shared fixtures: the vectors beside the repository, and a UTC-independent environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.vectors import vectors_dir


@pytest.fixture(scope="session")
def vectors() -> Path:
    return vectors_dir()
