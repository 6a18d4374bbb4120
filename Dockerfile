# aeserve: the HTTP service with the default checkpoints (target `service`, the default) and the trainer
# (target `train`). `make image` builds it anywhere: it makes a Debian base when python:3.11-slim cannot
# be pulled and installs from a wheelhouse made on the host (scripts/image.sh, docs/deploy.md).
# A plain `docker build .` also works on a machine that reaches Docker Hub, PyPI and PyTorch's index.
ARG BASE=python:3.11-slim-bookworm

# The service's dependencies in a virtual environment, without the project: a code change reinstalls nothing.
FROM ${BASE} AS deps-core
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_FIND_LINKS=/wheels PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# scripts/image.sh's wheelhouse and CA bundle, when it made them; the globs let a plain build go without.
# They stay in the build stages: the final images copy only the virtual environment.
COPY pyproject.toml build/image/wheel[s] /wheels/
COPY pyproject.toml build/image/ca-bundle.cr[t] /ca/
COPY pyproject.toml README.md ./
# Where torch comes from when no wheelhouse is given: PyTorch's CPU wheels, or a CUDA index for GPU hosts.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# A complete wheelhouse (its file `offline`) installs with no index at all; otherwise torch comes from
# TORCH_INDEX. The dependencies come in through an empty copy of the project, then dropped. torch's C++
# headers, test binaries and protoc (about 200 MB) serve no Python program.
# hadolint ignore=DL3013
RUN if [ -f /ca/ca-bundle.crt ]; then export PIP_CERT=/ca/ca-bundle.crt; fi \
    && if [ -f /wheels/offline ]; then export PIP_NO_INDEX=1; fi \
    && pip install "torch==2.13.0" --extra-index-url "${TORCH_INDEX}" \
    && torch=$(echo /opt/venv/lib/python3.*/site-packages/torch) \
    && rm -rf "$torch/test" "$torch/include" "$torch"/bin/protoc* "$torch"/bin/*Test "$torch"/bin/test_* \
    && mkdir models training service client \
    && touch models/__init__.py training/__init__.py service/__init__.py client/__init__.py \
    && pip install . && pip uninstall -y aeserve && rm -rf build ./*.egg-info

# The service's, with optional extras of the project: EXTRAS=ray for the Ray Serve / KubeRay image.
FROM deps-core AS deps
COPY pyproject.toml build/image/wheels-extr[a] /wheels-extra/
ARG EXTRAS=
# hadolint ignore=DL3013
RUN if [ -f /ca/ca-bundle.crt ]; then export PIP_CERT=/ca/ca-bundle.crt; fi \
    && if [ -f /wheels/offline ]; then export PIP_NO_INDEX=1; fi \
    && if [ -n "${EXTRAS}" ]; then pip install --find-links /wheels-extra ".[${EXTRAS}]" && pip uninstall -y aeserve; fi \
    && rm -rf build ./*.egg-info

# The trainer's: the service's plus the training extra (scikit-learn, scipy, matplotlib, ...).
FROM deps-core AS deps-train
# hadolint ignore=DL3013
RUN if [ -f /ca/ca-bundle.crt ]; then export PIP_CERT=/ca/ca-bundle.crt; fi \
    && if [ -f /wheels/offline ]; then export PIP_NO_INDEX=1; fi \
    && pip install ".[train]" && pip uninstall -y aeserve && rm -rf build ./*.egg-info

# The code runs from /app (PYTHONPATH, for Ray's workers too), compiled at build time: the root is read-only.
FROM ${BASE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    AESERVE_HOST=0.0.0.0 \
    AESERVE_PORT=8000 \
    AESERVE_MODELS_DIR=/app/checkpoints
RUN useradd --create-home --uid 10001 aeserve
WORKDIR /app

# `docker-compose run --rm train ...`: the trainer, with Fashion-MNIST from Debian's package.
FROM runtime AS train
# Debian stable only ever carries one version of each package; pinning it would break the build on its next point release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*
COPY --from=deps-train /opt/venv /opt/venv
COPY models ./models
COPY training ./training
RUN python -m compileall -q models training && mkdir checkpoints && chown aeserve:aeserve checkpoints
USER 10001
ENTRYPOINT ["python", "-m", "training"]
CMD ["--help"]

# The service (the default target): the default checkpoints ship inside, or mount another folder.
FROM runtime AS service
COPY --from=deps /opt/venv /opt/venv
COPY --chown=aeserve:aeserve checkpoints ./checkpoints
# `serve run deploy/serve.yaml` in the Ray image (EXTRAS=ray)
COPY deploy/serve.yaml ./deploy/serve.yaml
COPY models ./models
COPY service ./service
RUN python -m compileall -q models service
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"AESERVE_PORT\"]}/readyz', timeout=2)"]
# Exec form: python is PID 1 and receives SIGTERM itself, turns /readyz to 503, drains, exits 0.
ENTRYPOINT ["python", "-m", "service"]
