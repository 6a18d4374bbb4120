# syntax=docker/dockerfile:1
# aeserve: the HTTP service with the default checkpoints, CPU by default.
#   docker build -t aeserve .
#   docker build -t aeserve:cuda --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 .
#   docker build -t aeserve:ray --build-arg EXTRAS=ray .
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
# Where torch comes from: PyTorch's CPU wheels by default, a CUDA index for GPU hosts.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# Optional extras of the project: "ray" for the Ray Serve / KubeRay image.
ARG EXTRAS=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, in their own layers, so a source change does not reinstall them.
RUN pip install torch==2.13.0 --index-url "${TORCH_INDEX}"
COPY pyproject.toml README.md ./
# Installs the project itself (bounds and pins live in pyproject.toml), then drops it, keeping its dependencies.
# hadolint ignore=DL3013
RUN mkdir models training service \
    && touch models/__init__.py training/__init__.py service/__init__.py \
    && pip install ".${EXTRAS:+[$EXTRAS]}" \
    && pip uninstall -y aeserve
COPY models ./models
COPY training ./training
COPY service ./service
RUN pip install --no-deps .

FROM python:${PYTHON_VERSION}-slim-bookworm AS base
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AESERVE_HOST=0.0.0.0 \
    AESERVE_PORT=8000 \
    AESERVE_MODELS_DIR=/app/checkpoints
RUN useradd --create-home --uid 10001 aeserve
COPY --from=build /opt/venv /opt/venv
WORKDIR /app

# `docker compose run --rm train ...`: the trainer, with Fashion-MNIST from Debian's package.
FROM base AS train
# Debian stable only ever carries one version of each package; pinning it would break the build on its next point release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /app/checkpoints && chown aeserve:aeserve /app/checkpoints
USER 10001
ENTRYPOINT ["python", "-m", "training"]
CMD ["--help"]

# The service (the default target): the default checkpoints ship inside, or mount another folder.
FROM base AS service
COPY --chown=aeserve:aeserve checkpoints ./checkpoints
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"AESERVE_PORT\"]}/readyz', timeout=2)"]
# Exec form: python is PID 1 and receives SIGTERM itself, turns /readyz to 503, drains, exits.
ENTRYPOINT ["python", "-m", "service"]
