"""No test module imports another test module: shared builders, helpers and constants live in
tests/support/, shared fixtures in a conftest.py (issue 12)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _test_modules_imported(source: str) -> list[str]:
    """The modules named test_* that `source` imports (absolute or relative, any form)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found += [n for n in names if n.rsplit(".", 1)[-1].startswith("test_")]
    return found


def test_the_check_sees_each_form_of_import() -> None:
    source = (
        "from tests.integration.test_startup import app_image\n"
        "import tests.unit.test_verify as v\n"
        "from . import test_build\n"
        "from tests.support.startup_images import EXPECTED\n"
        "from tests.integration.conftest import ActionImage\n"
    )
    assert _test_modules_imported(source) == [
        "tests.integration.test_startup",
        "tests.unit.test_verify",
        ".test_build",
    ]


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in sorted(TESTS.rglob("*.py"))
        if (found := _test_modules_imported(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
