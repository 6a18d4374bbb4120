# One-line targets; the README shows the literal commands they run.
.PHONY: setup serve test lint format train-defaults

setup:
	bash scripts/setup.sh

serve: setup
	.venv/bin/python -m service

test: setup
	.venv/bin/python -m pytest

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

train-defaults: setup
	.venv/bin/python -m training defaults -v
