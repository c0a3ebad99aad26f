#!/usr/bin/env bash
# The whole suite: lint, types, import layering, then every test layer. pytest's exit code 5 (nothing collected)
# is a failure here, never a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=.venv
"$venv/bin/ruff" check src tests bench || exit 1
"$venv/bin/ruff" format --check src tests bench || exit 1
"$venv/bin/mypy" || exit 1
"$venv/bin/lint-imports" || exit 1  # the layering contracts in pyproject.toml
"$venv/bin/python" -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi
exit $rc
