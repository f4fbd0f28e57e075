"""Fixtures of the API tests: a real small model (tests/model_kit.py), apps and clients.

Apps are built against an in-memory model registry. `client` is one app per test module with its
model loaded; `make_app` builds a fresh app for tests that need their own state or registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from api_kit import api_settings, registry_with, wait_for_model
from fastapi import FastAPI
from fastapi.testclient import TestClient
from model_kit import frame_records, new_version, trained_model

from fraudlake.api.main import create_app
from fraudlake.ml.registry import ModelRegistry


@pytest.fixture(scope="session")
def trained() -> tuple[dict[str, bytes], pd.DataFrame]:
    return trained_model()


@pytest.fixture(scope="session")
def model_files(trained: tuple[dict[str, bytes], pd.DataFrame]) -> dict[str, bytes]:
    return trained[0]


@pytest.fixture(scope="session")
def model_files_v2(model_files: dict[str, bytes]) -> dict[str, bytes]:
    return new_version(model_files, "v2", review=0.5)


@pytest.fixture(scope="session")
def frame(trained: tuple[dict[str, bytes], pd.DataFrame]) -> pd.DataFrame:
    return trained[1]


@pytest.fixture(scope="session")
def transactions(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The last 2,000 training transactions as API bodies, in time order."""
    return frame_records(frame, len(frame) - 2000)


@pytest.fixture
def make_app() -> Callable[..., FastAPI]:
    """Build an app over a registry (empty by default); the lifespan loads its champion."""

    def build(registry: ModelRegistry | None = None, **settings: Any) -> FastAPI:
        return create_app(api_settings(**settings), registry if registry is not None else registry_with())

    return build


@pytest.fixture(scope="module")
def client(model_files: dict[str, bytes]) -> Iterator[TestClient]:
    app = create_app(api_settings(), registry_with(model_files))
    with TestClient(app) as test_client:
        wait_for_model(app)
        yield test_client
