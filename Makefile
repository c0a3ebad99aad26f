# Two commands do everything on a fresh machine: `sudo make run` and `sudo make test`.
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test setup lint typecheck unit clean-lab bench

run: setup
	$(VENV)/bin/beefine-tui

test: setup
	bash scripts/run-tests.sh $(PYTEST_ARGS)

setup:
	bash scripts/setup.sh

lint:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/lint-imports

typecheck:
	$(VENV)/bin/mypy

unit: setup
	$(PY) -m pytest tests/unit tests/tui -q

bench: setup
	for b in bench/*.py; do $(PY) $$b || exit 1; done
