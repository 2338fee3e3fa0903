#!/usr/bin/env bash
# Lint, type-check, import contracts, then the whole test suite (unit, doctests, integration).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m ruff check vcmon tests bench scripts
python3 -m ruff format --check vcmon tests bench scripts
python3 -m mypy
python3 -c "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports', 'pyproject.toml']; lint_imports_command()"
python3 -m pytest "$@"
