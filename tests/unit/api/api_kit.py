"""Helpers shared by the API tests (fixtures live in conftest.py): keys, settings, registries."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from fraudlake.api.settings import ApiSettings
from fraudlake.ml.registry import MemoryStore, ModelRegistry

API_KEY = "unit-test-key-6f1d0c9a4b7e2358"
OTHER_KEY = "unit-test-key-rotated-0a9b8c7d6e"
AUTH = {"X-API-Key": API_KEY}


def api_settings(**overrides: Any) -> ApiSettings:
    """Settings for a test app: two valid keys, no polling unless a test asks for it."""
    values: dict[str, Any] = {"api_keys": f"{API_KEY},{OTHER_KEY}", "model_poll_seconds": 3600} | overrides
    return ApiSettings(**values)


def registry_with(*versions: dict[str, bytes]) -> ModelRegistry:
    """An in-memory registry with these versions published in order (the last one that wins is champion)."""
    registry = ModelRegistry(MemoryStore(), "models")
    for files in versions:
        registry.publish(files)
    return registry


def wait_for_model(app: FastAPI, timeout: float = 60) -> None:
    watcher = app.state.services.watcher
    assert watcher.wait_loaded(timeout), watcher.last_error
