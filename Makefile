# Two commands do everything on a fresh machine: `sudo make run` and `sudo make test`.
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test setup venv lint typecheck unit clean-lab bench schema examples

run: setup
	$(VENV)/bin/beefine-tui

test: setup
	bash scripts/run-tests.sh $(PYTEST_ARGS)

setup:
	bash scripts/setup.sh

# the venv alone, without root: enough for lint, typecheck and the unit/TUI tests
venv:
	bash scripts/venv.sh

lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/lint-imports

typecheck: venv
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest tests/unit tests/tui -q

# the kinds table of src/beefine_tui/events/SCHEMA.md, from the probes' Args structs
schema: venv
	$(PY) -m beefine_tui.probes.schema_doc

# labs left behind by a process that was killed before it could remove them (SIGKILL, OOM) or whose
# daemons died; running labs, and labs being started or stopped, are left alone
clean-lab: setup
	$(VENV)/bin/beefine-tui lab clean

bench: setup
	for b in bench/*.py; do $(PY) $$b || exit 1; done

# the shipped recordings of the lab images' creation (real probes, a private lab: root)
examples: setup
	bash scripts/make-examples.sh
