"""Prometheus metrics of the operator process: reconcile runs, step durations, pipelines by condition.

Handlers are wrapped with `observed` (or `observed_deletion` for the delete handler): the wrapper counts
the run by outcome and, from the status patch the handler wrote, keeps each pipeline's conditions.
`converge` times each step with `timed_step`. `serve` starts the /metrics HTTP server at startup; it is
apart from Kopf's liveness endpoint, which only says the operator's loop is alive.

One registry per process: the operator is one process, and the registry is module state so the
handlers (run by Kopf in worker threads) and the scrape share it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import kopf
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()

# A step is one API round trip to a few (topics, connector, Deployment) or DDL on ClickHouse: tens of
# milliseconds when nothing changes, seconds when ClickHouse or the API server is slow.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

RECONCILES = Counter(
    "fraudlake_operator_reconciles_total",
    "Handler runs by handler and outcome: success; retry (waiting for a dependency, kopf.TemporaryError); "
    "failed (a spec the operator will not apply, kopf.PermanentError); error (an unexpected exception, "
    "retried by Kopf).",
    ["handler", "outcome"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "fraudlake_operator_reconcile_errors_total",
    "Handler runs that ended with a failure or an unexpected exception, by handler and exception class.",
    ["handler", "error"],
    registry=REGISTRY,
)
STEP_SECONDS = Histogram(
    "fraudlake_operator_step_duration_seconds",
    "Duration of one reconcile step (topics, connector, tables, scorer), by step.",
    ["step"],
    buckets=STEP_BUCKETS,
    registry=REGISTRY,
)


class PipelineConditions(Collector):
    """The last conditions the operator wrote for each pipeline, exported at scrape time, so a pipeline
    that is deleted or changes status leaves no stale series behind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_pipeline: dict[tuple[str, str], dict[str, str]] = {}

    def record(self, namespace: str, name: str, conditions: Any) -> None:
        """Remember the conditions of a status patch (a list of {type, status, ...})."""
        statuses = {c["type"]: str(c["status"]) for c in conditions or () if "type" in c and "status" in c}
        with self._lock:
            self._by_pipeline[namespace, name] = statuses

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._by_pipeline.pop((namespace, name), None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            snapshot = {key: dict(value) for key, value in self._by_pipeline.items()}
        per_pipeline = GaugeMetricFamily(
            "fraudlake_operator_pipeline_condition",
            "1 for each pipeline's current status of each condition (the last the operator wrote).",
            labels=["pipeline_namespace", "pipeline", "condition", "status"],
        )
        counts: dict[tuple[str, str], int] = {}
        for (namespace, name), statuses in sorted(snapshot.items()):
            for condition, status in sorted(statuses.items()):
                per_pipeline.add_metric([namespace, name, condition, status], 1)
                counts[condition, status] = counts.get((condition, status), 0) + 1
        totals = GaugeMetricFamily(
            "fraudlake_operator_pipelines",
            "Pipelines by condition and its status (True, False, Unknown).",
            labels=["condition", "status"],
        )
        for (condition, status), count in sorted(counts.items()):
            totals.add_metric([condition, status], count)
        yield per_pipeline
        yield totals


PIPELINES = PipelineConditions()
REGISTRY.register(PIPELINES)


class ModelDrift(Collector):
    """Each pipeline's latest drift report (the `model_drift` DAG's, read by the model health timer),
    exported at scrape time like the conditions: a deleted pipeline leaves no series behind.

    The DAG's tasks live for seconds and are never scraped; the operator reads the report anyway for
    ModelHealthy, so its /metrics is where Prometheus finds the numbers to alert and graph on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_pipeline: dict[tuple[str, str], list[Mapping[str, Any]]] = {}

    def record(self, namespace: str, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            self._by_pipeline[namespace, name] = list(rows)

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._by_pipeline.pop((namespace, name), None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            snapshot = dict(self._by_pipeline)
        labels = ["pipeline_namespace", "pipeline"]
        psi = GaugeMetricFamily(
            "fraudlake_feature_psi",
            "Population stability index of a model input (or the score) in the latest drift report, "
            "against the model's training window (0.1 warn, 0.2 drifting); absent when too few rows.",
            labels=[*labels, "feature"],
        )
        alert_rate = GaugeMetricFamily(
            "fraudlake_model_alert_rate",
            "Share of the latest drift report's recent decisions that were review or decline.",
            labels=labels,
        )
        precision = GaugeMetricFamily(
            "fraudlake_model_flagged_precision",
            "Frauds among flagged decisions one label delay before the latest drift report's window.",
            labels=labels,
        )
        for (namespace, name), rows in sorted(snapshot.items()):
            for row in rows:
                if row.get("psi") is not None:
                    psi.add_metric([namespace, name, str(row["feature"])], float(row["psi"]))
            if rows and rows[0].get("alert_rate") is not None:
                alert_rate.add_metric([namespace, name], float(rows[0]["alert_rate"]))
            if rows and rows[0].get("flagged_precision") is not None:
                precision.add_metric([namespace, name], float(rows[0]["flagged_precision"]))
        yield psi
        yield alert_rate
        yield precision


MODEL_DRIFT = ModelDrift()
REGISTRY.register(MODEL_DRIFT)


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "success"
    if isinstance(error, kopf.TemporaryError):
        return "retry"
    if isinstance(error, kopf.PermanentError):
        return "failed"
    return "error"


def _count(handler: str, error: BaseException | None) -> None:
    outcome = outcome_of(error)
    RECONCILES.labels(handler, outcome).inc()
    if outcome in ("failed", "error"):
        ERRORS.labels(handler, type(error).__name__).inc()


def _record_status(body: Mapping[str, Any], patch: Any) -> None:
    conditions = (getattr(patch, "status", None) or {}).get("conditions")
    if conditions is not None:
        meta = body["metadata"]
        PIPELINES.record(meta["namespace"], meta["name"], conditions)


def observed(handler: Callable[..., None]) -> Callable[..., None]:
    """Count each run of a Kopf handler by outcome and keep the conditions it wrote (the handler is
    called with Kopf's keyword arguments; `body` and `patch` are among them)."""
    return _counted(handler, lambda kwargs, _: _record_status(kwargs["body"], kwargs.get("patch")))


def observed_deletion(handler: Callable[..., None]) -> Callable[..., None]:
    """Like `observed`, for the delete handler: once it succeeds the pipeline is gone (Kopf removes the
    finalizer), so its conditions leave the metrics."""

    def forget_when_deleted(kwargs: dict[str, Any], error: BaseException | None) -> None:
        if error is None:
            meta = kwargs["body"]["metadata"]
            PIPELINES.forget(meta["namespace"], meta["name"])
            MODEL_DRIFT.forget(meta["namespace"], meta["name"])

    return _counted(handler, forget_when_deleted)


def _counted(
    handler: Callable[..., None], after: Callable[[dict[str, Any], BaseException | None], None]
) -> Callable[..., None]:
    """`handler` counted by outcome; `after(kwargs, error)` runs whatever the outcome."""

    @functools.wraps(handler)
    def run(**kwargs: Any) -> None:
        error: BaseException | None = None
        try:
            handler(**kwargs)
        except Exception as exc:
            error = exc
            raise
        finally:
            _count(handler.__name__, error)
            after(kwargs, error)

    return run


@contextmanager
def timed_step(step: Callable[..., Any]) -> Iterator[None]:
    """Time one reconcile step (a function `reconcile_<step>`), whether it returns or raises."""
    started = time.perf_counter()
    try:
        yield
    finally:
        STEP_SECONDS.labels(step.__name__.removeprefix("reconcile_")).observe(time.perf_counter() - started)


_served: dict[int, int] = {}
_serve_lock = threading.Lock()


def serve(port: int, address: str = "0.0.0.0") -> int:  # noqa: S104 - scraped from other pods
    """Serve /metrics on `port` (0: any free port, for tests and side-by-side local runs); return the
    bound port. Once per process and requested port: tests start the operator many times in one process."""
    with _serve_lock:
        if port in _served:
            return _served[port]
        server, _ = start_http_server(port, addr=address, registry=REGISTRY)
        bound = _served[port] = int(server.server_address[1])
    logger.info("operator metrics on http://%s:%d/metrics", address, bound)
    return bound
