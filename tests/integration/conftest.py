"""Integration fixtures: moto's server for the AWS plumbing, a fault proxy for registries."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.servers.fault_proxy import FaultProxy
from tests.servers.moto import Moto, MotoProcess, external_endpoint
from tests.servers.registry import Registry

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Moto]:
    """A moto server (``.endpoint``) with fake credentials in the environment, no profile."""
    saved = {k: os.environ.get(k) for k in (*_AWS_ENV, "AWS_PROFILE", "AWS_REGION")}
    os.environ.update(_AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_REGION", None)
    endpoint = external_endpoint()
    process = None
    try:
        if endpoint is not None:
            yield Moto(endpoint=endpoint.rstrip("/"))
        else:
            process = MotoProcess()
            yield process.start()
    finally:
        if process is not None:
            process.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def proxy(registry: Registry) -> Iterator[FaultProxy]:
    """A pass-through (until told otherwise) proxy in front of the session registry."""
    fp = FaultProxy(int(registry.host.split(":")[1]))
    fp.start()
    yield fp
    fp.stop()
