"""Out-of-core training of the tabular model: features on disk by chunk, XGBoost from an iterator.

The path for data that does not fit in memory (`fraudlake.ml.train` holds every row's features, and
the graph models' columns, at once: about 2.5 KB a row). Here:

1. `build_store` streams time-ordered chunks through `chunked_features` (bit-equal to the in-memory
   features) and writes each chunk's float32 feature rows to disk; only event time, label and card
   code stay in memory (17 bytes a row).
2. `fit_xgb` builds XGBoost's `QuantileDMatrix` from a `DataIter` over the stored chunks: XGBoost
   sketches the quantiles chunk by chunk and keeps only the compressed bin indices (about one byte a
   feature), never a float matrix of the training rows. Or, with a Dask client, `fit_xgb_dask` trains
   the same model with `xgboost.dask` across the cluster's workers.
3. Validation and test scores are predicted chunk by chunk; calibration, thresholds, the gate and the
   metrics are those of the in-memory path (`train._candidate`, `train._metrics`).

Models: (a) the seeds' rule and (b) tabular XGBoost. The graph models (b+, c) need the graph
snapshots and GraphSAGE, which are not out of core yet: this path serves (b) and says so.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from fraudlake.ml import evaluate, gate
from fraudlake.ml.chunked_features import ChunkedFeatures
from fraudlake.ml.data import TrainingDataError
from fraudlake.ml.features import EVENT_MS, FEATURE_NAMES, LABEL
from fraudlake.ml.stages import StageLog
from fraudlake.ml.train import (
    TrainConfig,
    XgbConfig,
    _metrics,
    candidate_from_scores,
    predict,
    split_bounds,
    xgb_params,
)

Progress = Callable[[str, int, int], None]
TABULAR = "b_xgb_tabular"


@dataclass
class FeatureStore:
    """Feature rows on disk, one float32 .npy per chunk, with the few per-row columns kept in memory."""

    root: Path
    files: list[Path] = field(default_factory=list)
    offsets: list[int] = field(default_factory=lambda: [0])  # first row of each chunk, then the total
    event_ms: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    cards: list[np.ndarray] = field(default_factory=list)

    def append(self, x: np.ndarray, event_ms: np.ndarray, y: np.ndarray, cards: np.ndarray) -> None:
        path = self.root / f"x-{len(self.files):06d}.npy"
        np.save(path, np.asarray(x, dtype=np.float32))
        self.files.append(path)
        self.offsets.append(self.offsets[-1] + len(x))
        self.event_ms.append(np.asarray(event_ms, dtype=np.int64))
        self.y.append(np.asarray(y, dtype=np.int8))
        self.cards.append(np.asarray(cards, dtype=np.int64))

    @property
    def rows(self) -> int:
        return self.offsets[-1]

    def column(self, name: str) -> np.ndarray:
        return np.concatenate(getattr(self, name)) if self.files else np.zeros(0)

    def pieces(self, lo: int, hi: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(features, labels) of rows [lo, hi), one stored chunk at a time (memory-mapped reads)."""
        for k, path in enumerate(self.files):
            a, b = max(lo, self.offsets[k]), min(hi, self.offsets[k + 1])
            if a < b:
                x = np.load(path, mmap_mode="r")
                start = self.offsets[k]
                yield np.ascontiguousarray(x[a - start : b - start]), self.y[k][a - start : b - start]


def build_store(
    chunks: Iterable[pd.DataFrame], config: TrainConfig, root: Path, progress: Progress | None = None
) -> FeatureStore:
    """Stream chunks through the chunked feature path into a `FeatureStore` under `root`."""
    state, store = ChunkedFeatures(config.features), FeatureStore(root)
    for i, chunk in enumerate(chunks):
        x = state.features(chunk)
        cards = state.codes["card"](chunk["card_id"].to_numpy())
        store.append(x, chunk[EVENT_MS].to_numpy(), chunk[LABEL].to_numpy(), cards)
        if progress:
            progress("tabular features (chunked)", i + 1, i + 1)
    if store.rows == 0:
        raise TrainingDataError("no transactions to train on")
    return store


class ChunkIter(xgb.DataIter):
    """XGBoost's view of stored rows [lo, hi): one chunk per `next` call."""

    def __init__(self, store: FeatureStore, lo: int, hi: int):
        self.store, self.lo, self.hi = store, lo, hi
        self._pieces: Iterator[tuple[np.ndarray, np.ndarray]] | None = None
        super().__init__()

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._pieces is None:
            self._pieces = self.store.pieces(self.lo, self.hi)
        piece = next(self._pieces, None)
        if piece is None:
            return False
        input_data(data=piece[0], label=piece[1], feature_names=list(FEATURE_NAMES))
        return True

    def reset(self) -> None:
        self._pieces = None


def fit_xgb(store: FeatureStore, fit: tuple[int, int], valid: tuple[int, int], cfg: XgbConfig) -> xgb.Booster:
    """The in-memory path's XGBoost (`train._fit_xgb`: same parameters, early stopping on validation),
    with both matrices built chunk by chunk."""
    train = xgb.QuantileDMatrix(ChunkIter(store, *fit))
    check = xgb.QuantileDMatrix(ChunkIter(store, *valid), ref=train)
    return xgb.train(
        xgb_params(cfg),
        train,
        cfg.rounds,
        evals=[(check, "valid")],
        early_stopping_rounds=cfg.early_stopping,
        verbose_eval=False,
    )


def _dask_rows(store: FeatureStore, lo: int, hi: int) -> tuple[Any, Any]:
    """Rows [lo, hi) as Dask arrays whose blocks are the stored chunks, read by the workers."""
    import dask
    import dask.array as da

    width = len(FEATURE_NAMES)
    xs, ys = [], []
    for k, path in enumerate(store.files):
        a, b = max(lo, store.offsets[k]), min(hi, store.offsets[k + 1])
        if a < b:
            start = store.offsets[k]
            load = dask.delayed(lambda p, i, j: np.load(p, mmap_mode="r")[i:j].copy())(
                path, a - start, b - start
            )
            xs.append(da.from_delayed(load, shape=(b - a, width), dtype=np.float32))
            ys.append(da.from_array(store.y[k][a - start : b - start].astype(np.float32), chunks=-1))
    return da.concatenate(xs), da.concatenate(ys)


def fit_xgb_dask(
    client: Any, store: FeatureStore, fit: tuple[int, int], valid: tuple[int, int], cfg: XgbConfig
) -> xgb.Booster:
    """`fit_xgb` on a Dask cluster (`xgboost.dask`): each worker sketches and trains on its chunks.
    The store's directory must be readable by every worker (a shared volume in a cluster)."""
    from xgboost import dask as dxgb

    x, y = _dask_rows(store, *fit)
    xv, yv = _dask_rows(store, *valid)
    names = list(FEATURE_NAMES)
    train = dxgb.DaskQuantileDMatrix(client, x, y, feature_names=names)
    check = dxgb.DaskQuantileDMatrix(client, xv, yv, ref=train, feature_names=names)
    params = xgb_params(cfg) | {"nthread": 1}  # per worker: the cluster's workers are the parallelism
    out = dxgb.train(
        client,
        params,
        train,
        cfg.rounds,
        evals=[(check, "valid")],
        early_stopping_rounds=cfg.early_stopping,
        verbose_eval=False,
    )
    return out["booster"]


def predict_rows(
    booster: xgb.Booster, store: FeatureStore, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """(XGBoost scores, seeds' rule scores) of rows [lo, hi), a chunk at a time."""
    scores, rule = [], []
    for x, _ in store.pieces(lo, hi):
        scores.append(predict(booster, x))
        rule.append(evaluate.seed_rule(x))
    return np.concatenate(scores), np.concatenate(rule)


@dataclass
class ChunkedResult:
    """What the out-of-core path trains: the tabular model with its calibration, thresholds, metrics."""

    version: str
    booster: xgb.Booster
    calibration: evaluate.Calibration
    thresholds: dict[str, evaluate.Threshold]
    metrics: dict[str, Any]
    evaluation: dict[str, np.ndarray]


def train_chunked(
    chunks: Iterable[pd.DataFrame],
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    client: Any = None,
    workdir: Path | None = None,
    stages: StageLog | None = None,
) -> ChunkedResult:
    """Train (a) and (b) on chunks in bounded memory; `client`: a Dask client to fit XGBoost on.

    Periods are those of the in-memory path (`train.split_bounds`); the GNN period's rows are history
    only (no graph model here), as are the fit period's for the XGBoost fit.
    """
    config = config or TrainConfig()
    stages = stages or StageLog()
    root = Path(tempfile.mkdtemp(prefix="fraudlake-train-", dir=workdir))
    try:
        with stages.stage("tabular features (chunked)"):
            store = build_store(chunks, config, root, progress)
        event_ms, y, cards = store.column("event_ms"), store.column("y").astype(int), store.column("cards")
        bounds = split_bounds(event_ms, config.split)
        for name, (lo, hi) in bounds.items():
            if y[lo:hi].sum() == 0 and name != "gnn":
                raise TrainingDataError(
                    f"no fraud in the {name} period ({hi - lo} rows): cannot train/evaluate"
                )
        with stages.stage("XGBoost b_xgb_tabular" + (" (dask)" if client is not None else "")):
            if client is not None:
                booster = fit_xgb_dask(client, store, bounds["fit"], bounds["valid"], config.xgb)
            else:
                booster = fit_xgb(store, bounds["fit"], bounds["valid"], config.xgb)
        with stages.stage("evaluation"):
            result = _evaluate(booster, store, event_ms, y, cards, bounds, config)
        result.metrics["training_run"] = stages.report(
            "chunked" + ("+dask" if client is not None else ""), store.rows
        )
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _evaluate(
    booster: xgb.Booster,
    store: FeatureStore,
    event_ms: np.ndarray,
    y: np.ndarray,
    cards: np.ndarray,
    bounds: dict[str, tuple[int, int]],
    config: TrainConfig,
) -> ChunkedResult:
    (vlo, vhi), (tlo, thi) = bounds["valid"], bounds["test"]
    valid_scores, _ = predict_rows(booster, store, vlo, vhi)
    test_scores, rule = predict_rows(booster, store, tlo, thi)
    candidate = candidate_from_scores(booster, valid_scores, y[vlo:vhi], test_scores, config)
    decision = gate.choose(
        y[vlo:vhi],
        {TABULAR: candidate.valid_scores},
        cards[vlo:vhi],
        {TABULAR: candidate.thresholds["review"].working},
        gate.GateConfig(
            bootstrap=config.bootstrap, seed=config.xgb.seed, min_fraud_cards=config.min_fraud_cards
        ),
    )
    scores = {"a_rule": rule, TABULAR: candidate.test_scores}
    cols = {"event_ms": event_ms, "card_id": cards}
    metrics = _metrics(cols, y, bounds, scores, TABULAR, candidate, config) | {
        "gate": decision.to_json()
        | {"reason": decision.reason + " (chunked path: graph models not trained)"},
        "served_model": TABULAR,
    }
    model_bytes = bytes(booster.save_raw("json"))
    end = pd.Timestamp(int(event_ms[-1]), unit="ms", tz="UTC")
    version = f"{end:%Y%m%dT%H%M%SZ}-{hashlib.sha256(model_bytes).hexdigest()[:8]}"
    evaluation = {
        "y": y[tlo:thi],
        **scores,
        "served_calibrated": candidate.calibration(candidate.test_scores),
    }
    return ChunkedResult(version, booster, candidate.calibration, candidate.thresholds, metrics, evaluation)
