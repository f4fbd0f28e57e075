"""Shared fixtures: one local stack per test session, services started on first use.

Integration tests ask for the service they need (`kafka`, `minio`, `kube`, …); the first request
starts it (and its dependencies) on free ports in a temporary run folder, and the session's end
stops every process it started. Set FRAUDLAKE_TEST_STACK_DIR to reuse a stack you keep running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraudlake.local.stack import manager
from fraudlake.local.stack.service import ServiceRecord, StackContext

# Operators started by tests bind their /metrics on any free port: other test processes on this machine
# may run operators at the same time, and the default (9090) is for the cluster.
os.environ.setdefault("FRAUDLAKE_OPERATOR_METRICS_PORT", "0")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackContext]:
    keep = os.environ.get("FRAUDLAKE_TEST_STACK_DIR")
    ctx = StackContext(Path(keep) if keep else tmp_path_factory.mktemp("stack"))
    yield ctx
    if not keep:
        manager.down(ctx)


def _service(stack: StackContext, name: str) -> ServiceRecord:
    return manager.up(stack, [name])[name]


@pytest.fixture(scope="session")
def kafka(stack: StackContext) -> ServiceRecord:
    return _service(stack, "kafka")


@pytest.fixture(scope="session")
def minio(stack: StackContext) -> ServiceRecord:
    return _service(stack, "minio")


@pytest.fixture(scope="session")
def kafka_connect(stack: StackContext) -> ServiceRecord:
    return _service(stack, "connect")


@pytest.fixture(scope="session")
def kube(stack: StackContext) -> ServiceRecord:
    return _service(stack, "kube")


@pytest.fixture(scope="session")
def clickhouse(stack: StackContext) -> ServiceRecord:
    return _service(stack, "clickhouse")


@pytest.fixture(scope="session")
def chroma(stack: StackContext) -> ServiceRecord:
    return _service(stack, "chroma")


@pytest.fixture(scope="session")
def airflow(stack: StackContext) -> ServiceRecord:
    return _service(stack, "airflow")


@pytest.fixture(scope="session")
def prometheus(stack: StackContext) -> ServiceRecord:
    return _service(stack, "prometheus")
