# The soci-ci GitHub container action (runs: using: docker).
#
# Base: the official slim CPython image of Debian 13 (trixie), pinned by digest. The digest
# comes from a public reference (2026-09-08: Python 3.13.15, Debian 13.6) and was NOT pulled
# on the machine that wrote this line (no Docker Hub access there); re-pin with
#   docker buildx imagetools inspect python:3.13-slim-trixie
# BASE_IMAGE can be overridden (the tests use a locally made trixie image, offline).
ARG BASE_IMAGE=python:3.13-slim-trixie@sha256:9d2e5553305c7c7b0097999bb17187c69b921ccd6bc9d40e4bb5ebe652c00285
# TOOLS=install (default) installs the Docker CLI, buildx and the pinned Python dependencies;
# TOOLS=preinstalled uses a base that already has them (an earlier tools-install stage: the
# offline tests, where nothing can be downloaded during the action's build).
ARG TOOLS=install

FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/opt/soci-ci

# `soci-ci` on PATH too, for the image used as a custom CodeBuild image (docs/codebuild.md).
# Debian 13's docker-cli (26.x: negotiates the API version, so Engine 20.10 to 29.x work)
# and the buildx plugin (BuildKit: multi-platform, secrets, cache import/export). No engine,
# containerd, runc or git: the engine is the runner's, reached through /var/run/docker.sock.
# busybox-static: the probe builds its check image from it (docs/probe.md).
FROM base AS tools-install
COPY requirements.lock /opt/soci-ci/requirements.lock
RUN apt-get update \
    && apt-get install -y --no-install-recommends docker-cli docker-buildx busybox-static \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
        /usr/share/doc/docker-* /usr/share/man/* \
    && python3 -m pip install --no-deps --only-binary=:all: -r /opt/soci-ci/requirements.lock \
    && printf '#!/bin/sh\nexec /usr/local/bin/python3 /opt/soci-ci/entrypoint.py "$@"\n' \
        > /usr/local/bin/soci-ci \
    && chmod 755 /usr/local/bin/soci-ci

FROM base AS tools-preinstalled

# The ECR-push Lambda (docs/lambda.md): `docker build --target lambda .`. It needs no Docker
# CLI: the runtime interface client calls soci_ci.lambda_entry.handler. (BuildKit builds only
# the stages a target needs, so the action's build never runs this one.)
FROM base AS lambda
COPY requirements.lock infra/lambda-requirements.lock /opt/soci-ci/
RUN python3 -m pip install --no-deps --only-binary=:all: \
        -r /opt/soci-ci/requirements.lock -r /opt/soci-ci/lambda-requirements.lock
COPY soci_ci /opt/soci-ci/soci_ci
ENTRYPOINT ["/usr/local/bin/python3", "-m", "awslambdaric"]
CMD ["soci_ci.lambda_entry.handler"]

FROM tools-${TOOLS}
COPY soci_ci /opt/soci-ci/soci_ci
COPY entrypoint.py /opt/soci-ci/entrypoint.py
LABEL org.opencontainers.image.title="soci-ci" \
      org.opencontainers.image.description="GitHub container action: build, SOCI-index, verify, probe and gate" \
      org.opencontainers.image.licenses="Apache-2.0"
# Absolute interpreter path: a user's `env: PATH:` must not break the action.
ENTRYPOINT ["/usr/local/bin/python3", "/opt/soci-ci/entrypoint.py"]
