"""Model lifecycle: unready until a model loads, bad versions never served, hot reload under load."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import pytest
from api_kit import AUTH, registry_with, wait_for_model
from fastapi.testclient import TestClient
from model_kit import new_version

from fraudlake.ml.registry import CHAMPION

pytestmark = pytest.mark.unit


def _version(files: dict[str, bytes]) -> str:
    return str(json.loads(files["manifest.json"])["version"])


def _point_champion_at(registry, version: str) -> None:
    pointer = {"version": version, "test_auc_pr": 0.5, "promoted_at": "2026-01-01T00:00:00+00:00"}
    registry.store.put(f"{registry.prefix}/{CHAMPION}", json.dumps(pointer).encode())


def test_readyz_is_false_and_scoring_503_until_a_model_loads(
    make_app, model_files: dict[str, bytes], transactions: list[dict[str, Any]]
) -> None:
    registry = registry_with()
    app = make_app(registry, startup_model_wait_seconds=0)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        assert "champion" in ready.json()["detail"]
        scored = client.post("/v1/score", json=transactions[0], headers=AUTH)
        assert scored.status_code == 503
        assert scored.json()["error"] == "model_not_ready"
        assert scored.headers["retry-after"] == "5"

        registry.publish(model_files)
        assert app.state.services.watcher.check_once()
        assert client.get("/readyz").json() == {
            "ready": True,
            "model_version": _version(model_files),
            "detail": "",
        }
        assert client.post("/v1/score", json=transactions[0], headers=AUTH).status_code == 200


def test_a_corrupt_champion_is_never_served(make_app, model_files: dict[str, bytes]) -> None:
    registry = registry_with(model_files)
    broken = new_version(model_files, "broken")
    registry.upload(broken)
    registry.store.put(f"models/{_version(broken)}/xgboost.json", b"{}")  # no longer matches the manifest
    app = make_app(registry)
    with TestClient(app) as client:
        wait_for_model(app)
        _point_champion_at(registry, _version(broken))
        assert not app.state.services.watcher.check_once()
        assert client.get("/readyz").json()["model_version"] == _version(model_files)  # still the good one
        assert "sha256" in app.state.services.watcher.last_error
        assert 'fraudlake_api_model_reloads_total{outcome="failed"} 1.0' in client.get("/metrics").text


def test_the_poller_picks_up_a_new_champion(make_app, model_files, model_files_v2) -> None:
    registry = registry_with(model_files)
    app = make_app(registry, model_poll_seconds=0.05)
    with TestClient(app) as client:
        wait_for_model(app)
        registry.publish(model_files_v2)
        deadline = time.monotonic() + 30
        while client.get("/readyz").json()["model_version"] != _version(model_files_v2):
            assert time.monotonic() < deadline, "the new champion was not loaded"
            time.sleep(0.05)
        assert client.get("/v1/model", headers=AUTH).json()["thresholds"]["review"] == 0.5
        assert (
            f'fraudlake_api_model_info{{version="{_version(model_files_v2)}"}}' in client.get("/metrics").text
        )


def test_hot_reload_under_concurrent_load_loses_no_requests(
    make_app, model_files, model_files_v2, transactions: list[dict[str, Any]]
) -> None:
    """Threads score while the champion pointer flips between two versions (polled every 20 ms):
    every request succeeds, and each is decided by the thresholds of the version it reports."""
    registry = registry_with(model_files, model_files_v2)
    versions = {_version(f): f for f in (model_files, model_files_v2)}
    review = {v: json.loads(f["decision.json"])["thresholds"]["review"]["value"] for v, f in versions.items()}
    decline = {
        v: json.loads(f["decision.json"])["thresholds"]["decline"]["value"] for v, f in versions.items()
    }
    app = make_app(registry, model_poll_seconds=0.02)
    statuses: Counter[int] = Counter()
    seen: Counter[str] = Counter()
    wrong: list[dict[str, Any]] = []
    stop = threading.Event()

    def hammer(offset: int, client: TestClient) -> None:
        for txn in transactions[offset : offset + 150]:
            response = client.post("/v1/score", json=txn, headers=AUTH)
            statuses[response.status_code] += 1
            if response.status_code != 200:
                continue
            body = response.json()
            seen[body["model_version"]] += 1
            v = body["model_version"]
            expected = (
                "decline"
                if decline[v] is not None and body["score"] >= decline[v]
                else "review"
                if review[v] is not None and body["score"] >= review[v]
                else "approve"
            )
            if body["decision"] != expected:
                wrong.append(body)

    def flip() -> None:
        names = list(versions)
        i = 0
        while not stop.is_set():
            _point_champion_at(registry, names[i % 2])
            i += 1
            time.sleep(0.03)

    with TestClient(app) as client:
        wait_for_model(app)
        mover = threading.Thread(target=flip)
        mover.start()
        workers = [threading.Thread(target=hammer, args=(150 * k, client)) for k in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        stop.set()
        mover.join()
        reloads = client.get("/metrics").text
    assert statuses == Counter({200: 600})
    assert set(seen) == set(versions), f"both versions should have served requests: {seen}"
    assert not wrong
    assert 'fraudlake_api_model_reloads_total{outcome="loaded"}' in reloads
