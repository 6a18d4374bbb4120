# One-line targets; the README shows the literal commands they run.
.PHONY: setup serve test test-container image lint format train-defaults

setup:
	bash scripts/setup.sh

serve: setup
	.venv/bin/python -m service

test: setup
	.venv/bin/python -m pytest

# the service image, aeserve:latest (scripts/image.sh --help: the trainer, Ray, CUDA, a CA bundle)
image:
	bash scripts/image.sh

# the container tests: build the images, run them as compose would (needs a Docker engine)
test-container: setup
	.venv/bin/python -m pytest -m container -n0

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

train-defaults: setup
	.venv/bin/python -m training defaults -v
