# The commands CI runs (.ci/run = scripts/test), one target each. `make check` is the whole
# test command; the others run one part of it.
.PHONY: check install lint typecheck deadcode test unit integration bench lock-dev

PY ?= python3

check:  ## everything CI runs: install, lint, types, unused code, all tests (no skips)
	bash scripts/test

install:  ## the pinned development dependencies and soci-ci itself (editable)
	$(PY) -m pip install -r requirements-dev.lock
	$(PY) -m pip install --no-deps -e .

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck:
	$(PY) -m mypy

deadcode:
	$(PY) -m vulture

test:  ## all tests, as CI runs them (a skipped test fails)
	CI=true $(PY) -m pytest

unit:
	$(PY) -m pytest tests/unit -q

integration:
	$(PY) -m pytest tests/integration -q

bench:  ## us vs the reference tools, same run, ratios (see CONTRIBUTING.md)
	$(PY) benchmarks/bench_ztoc.py
	$(PY) benchmarks/bench_registry.py

lock-dev:  ## regenerate requirements-dev.lock from pyproject's dev extra + requirements.lock
	$(PY) -m pip install --dry-run --ignore-installed --quiet --report /tmp/soci-ci-dev.json \
		-c requirements.lock '.[dev]'
	$(PY) scripts/write_dev_lock.py /tmp/soci-ci-dev.json > requirements-dev.lock
