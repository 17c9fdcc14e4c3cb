# syntax=docker/dockerfile:1
# The Ferris operator image. Build from the repository root:
#   docker build -t ghcr.io/ferris-run/ferris-operator:0.1.0 .
# Entry point: ferris-operator (the process node of the local cluster runs the same command).

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A proxy's CA for pip, for the build only (never in the final image): pass its path with
# --build-arg PIP_CERT and mount the file there read-only (`make images` does).
ARG PIP_CERT
# The operator, the ciphertext format and the runner's wire only: no runner, no local cluster.
COPY ciphertext/ ciphertext/
COPY wire/ wire/
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN python -m venv /opt/ferris \
    && /opt/ferris/bin/pip install --no-compile ./ciphertext ./wire . \
    && find /opt/ferris -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ferris-operator" \
      org.opencontainers.image.description="Ferris: run scripts with secrets on Kubernetes (operator)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/ferris-run/ferris"
COPY --from=build /opt/ferris /opt/ferris
# MALLOC_ARENA_MAX: the operator's threads otherwise get a glibc arena each (measured: 11 MiB
# less peak RSS over a burst of 300 runs).
ENV PATH=/opt/ferris/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["ferris-operator"]
