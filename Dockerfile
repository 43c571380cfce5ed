# The soci-ci GitHub container action (runs: using: docker, image: Dockerfile).
#
# Base: slim CPython 3.11 pinned by digest. Re-pin with
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# BASE_IMAGE can be overridden (the packaging test uses a locally made image, offline).
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91
FROM ${BASE_IMAGE}

# INSTALL_DOCKER_CLI=true: the Docker CLI (for `docker buildx` builds through the mounted
# /var/run/docker.sock; plain builds use the Docker API directly), and busybox-static, from
# which the probe builds its check image (docs/probe.md).
# INSTALL_DEPS=true: the pinned dependencies from requirements.lock (false when the base
# image already has them, as in the offline packaging test).
ARG INSTALL_DOCKER_CLI=true
ARG INSTALL_DEPS=true

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/opt/soci-ci

RUN if [ "$INSTALL_DOCKER_CLI" = "true" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends docker.io git ca-certificates busybox-static \
      && rm -rf /var/lib/apt/lists/*; \
    fi

COPY requirements.lock /opt/soci-ci/requirements.lock
RUN if [ "$INSTALL_DEPS" = "true" ]; then \
      python3 -m pip install --no-deps -r /opt/soci-ci/requirements.lock; \
    fi

COPY soci_ci /opt/soci-ci/soci_ci
COPY entrypoint.py /opt/soci-ci/entrypoint.py

# Absolute interpreter path: a user's `env: PATH:` must not break the action.
ENTRYPOINT ["/usr/local/bin/python3", "/opt/soci-ci/entrypoint.py"]
