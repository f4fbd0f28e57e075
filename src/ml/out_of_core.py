"""Out-of-core training: features on disk by chunk, XGBoost from an iterator, GraphSAGE by sampling.

The path for data that does not fit in memory (`fraudlake.ml.train` holds every row's features, and
the graph models' columns, at once: about 2.5 KB a row). `train_out_of_core` trains every model of
the in-memory path:

1. `build_store` streams time-ordered chunks through `chunked_features` (bit-equal to the in-memory
   features) and writes each chunk's float32 feature rows to disk; in memory stay event time, label,
   card / user / merchant codes and the graph's per-row values (about 70 bytes a row).
2. The suspicion model (`train.suspicion_from`) fits and scores from the stored chunks.
3. GraphSAGE trains on the training snapshots whole, or on `NeighborLoader` mini-batches of them
   when a snapshot is larger than the edge budget (`graph_sampling.fit_gnn_bounded`); the (c)
   columns (node risks, exposures, embeddings) and the (b+) aggregates are computed per stored chunk,
   one daily snapshot at a time (history sums carried forward: `graph_data.HistoryTotals`), and
   stored beside it.
4. `fit_xgb` builds XGBoost's `QuantileDMatrix` from a `DataIter` over the stored chunks (at most
   `max_fit_rows` of them: every fraud, weighted legitimate rows): XGBoost sketches the quantiles
   chunk by chunk and keeps only the compressed bin indices (about one byte a feature), never a
   float matrix of the training rows. Or, with a Dask client, `fit_xgb_dask` trains the same model
   with `xgboost.dask` across the cluster's workers.
5. Validation and test scores are predicted chunk by chunk; calibration, thresholds, the gate, the
   metrics and the served node tables are the in-memory path's (`train.candidate_from_scores`,
   `train.finish`), so the result makes the same artifact.

`train_chunked` is the tabular-only variant ((a) and (b), nothing to upload): a quick check of the
features and the iterator fit.
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
from fraudlake.ml.aggregates import AGGREGATE_FEATURES
from fraudlake.ml.chunked_features import ChunkedFeatures
from fraudlake.ml.data import TrainingDataError
from fraudlake.ml.features import EVENT_MS, FEATURE_NAMES, LABEL, graph_features
from fraudlake.ml.graph import row_graph_columns, row_values
from fraudlake.ml.graph_data import NODE_TYPES, GraphColumns, HistoryTotals, snapshot_times
from fraudlake.ml.graph_sampling import fit_gnn_bounded
from fraudlake.ml.stages import StageLog
from fraudlake.ml.train import (
    Candidate,
    TrainConfig,
    TrainResult,
    XgbConfig,
    _gnn_cutoffs,
    _metrics,
    candidate_from_scores,
    finish,
    fit_sample,
    predict,
    split_bounds,
    suspicion_from,
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
    # The graph's per-row columns (`GraphColumns` less the card codes above), about 48 bytes a row.
    users: list[np.ndarray] = field(default_factory=list)
    merchants: list[np.ndarray] = field(default_factory=list)
    values: list[dict[str, np.ndarray]] = field(default_factory=list)
    ids: dict[str, np.ndarray] = field(default_factory=dict)  # node ids in code order, per node type
    # More columns per chunk, stored beside the tabular ones: name → one .npy per chunk.
    extras: dict[str, list[Path]] = field(default_factory=dict)

    def append(self, x: np.ndarray, event_ms: np.ndarray, y: np.ndarray, cards: np.ndarray) -> None:
        path = self.root / f"x-{len(self.files):06d}.npy"
        np.save(path, np.asarray(x, dtype=np.float32))
        self.files.append(path)
        self.offsets.append(self.offsets[-1] + len(x))
        self.event_ms.append(np.asarray(event_ms, dtype=np.int64))
        self.y.append(np.asarray(y, dtype=np.int8))
        self.cards.append(np.asarray(cards, dtype=np.int64))

    def append_extra(self, name: str, x: np.ndarray) -> None:
        """The next chunk's `name` columns (chunks in order, the same rows as the tabular chunk)."""
        files = self.extras.setdefault(name, [])
        path = self.root / f"{name}-{len(files):06d}.npy"
        np.save(path, np.asarray(x, dtype=np.float32))
        files.append(path)

    @property
    def rows(self) -> int:
        return self.offsets[-1]

    def column(self, name: str) -> np.ndarray:
        parts = getattr(self, name)
        return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0)

    def join_rows(self) -> None:
        """The per-row columns the graph reads (event time, node codes, values) as one array each, one
        column at a time: `graph_columns_of` and the split then share them instead of copying (at 24M
        rows a copy is about 1.5 GB). Labels stay per chunk: `pieces` reads them by chunk."""
        for name in ("event_ms", "cards", "users", "merchants"):
            setattr(self, name, [self.column(name)])
        if len(self.values) > 1:  # popping each chunk's array frees it as soon as it is copied
            self.values = [
                {key: np.concatenate([v.pop(key) for v in self.values]) for key in list(self.values[0])}
            ]

    def pieces(self, rows: Rows, extras: tuple[str, ...] = ()) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(features, labels) of `rows` ((lo, hi) or sorted row indices), one stored chunk at a time
        (memory-mapped reads); the `extras` columns follow the tabular ones."""
        for k, path in enumerate(self.files):
            start, end = self.offsets[k], self.offsets[k + 1]
            if isinstance(rows, tuple):
                a, b = max(rows[0], start), min(rows[1], end)
                if a >= b:
                    continue
                pick: slice | np.ndarray = slice(a - start, b - start)
            else:
                pick = rows[np.searchsorted(rows, start) : np.searchsorted(rows, end)] - start
                if len(pick) == 0:
                    continue
            parts = [np.load(p, mmap_mode="r")[pick] for p in (path, *(self.extras[e][k] for e in extras))]
            yield np.ascontiguousarray(np.hstack(parts)), self.y[k][pick]


# Rows of a store: a range [lo, hi) or sorted row indices.
Rows = tuple[int, int] | np.ndarray


def build_store(
    chunks: Iterable[pd.DataFrame], config: TrainConfig, root: Path, progress: Progress | None = None
) -> FeatureStore:
    """Stream chunks through the chunked feature path into a `FeatureStore` under `root`."""
    state, store = ChunkedFeatures(config.features), FeatureStore(root)
    for i, chunk in enumerate(chunks):
        x = state.features(chunk)
        cards = state.codes["card"](chunk["card_id"].to_numpy())
        store.append(x, chunk[EVENT_MS].to_numpy(), chunk[LABEL].to_numpy(), cards)
        store.users.append(state.codes["user"](chunk["user_id"].to_numpy()))
        store.merchants.append(state.codes["merchant"](chunk["merchant_id"].to_numpy()))
        store.values.append(row_values(chunk))
        if progress:
            progress("tabular features (chunked)", i + 1, i + 1)
    if store.rows == 0:
        raise TrainingDataError("no transactions to train on")
    # Codes are given in order of first appearance, as `batch_features.codes` gives them over the
    # whole frame: the graph's node codes equal the in-memory path's.
    store.ids = {kind: state.codes[kind].index.to_numpy() for kind in NODE_TYPES}
    store.join_rows()
    return store


class ChunkIter(xgb.DataIter):
    """XGBoost's view of stored `rows` (with `extras` columns): one chunk per `next` call."""

    def __init__(
        self,
        store: FeatureStore,
        rows: Rows,
        extras: tuple[str, ...] = (),
        dim: int = 0,
        legit_weight: float = 1.0,
    ):
        self.store, self.rows, self.extras, self.legit_weight = store, rows, extras, legit_weight
        self.names = feature_names(extras, dim)
        self._pieces: Iterator[tuple[np.ndarray, np.ndarray]] | None = None
        super().__init__()

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._pieces is None:
            self._pieces = self.store.pieces(self.rows, self.extras)
        piece = next(self._pieces, None)
        if piece is None:
            return False
        x, y = piece
        weight = None if self.legit_weight == 1.0 else np.where(y == 1, 1.0, self.legit_weight)
        input_data(data=x, label=y, weight=weight, feature_names=self.names)
        return True

    def reset(self) -> None:
        self._pieces = None


def fit_xgb(
    store: FeatureStore, fit: Rows, valid: Rows, cfg: XgbConfig, extras: tuple[str, ...] = (), dim: int = 0
) -> xgb.Booster:
    """The in-memory path's XGBoost (`train._fit_xgb`: same parameters, the same sample of rows under
    `max_fit_rows`, early stopping on validation), with both matrices built chunk by chunk; `dim`: the
    GraphSAGE embedding size of a "graph" extra."""
    labels = store.column("y")
    (fit, w), (valid, wv) = (
        _sampled(rows, labels, cfg, seed) for rows, seed in ((fit, cfg.seed), (valid, cfg.seed + 1))
    )
    train = xgb.QuantileDMatrix(ChunkIter(store, fit, extras, dim, w))
    check = xgb.QuantileDMatrix(ChunkIter(store, valid, extras, dim, wv), ref=train)
    return xgb.train(
        xgb_params(cfg),
        train,
        cfg.rounds,
        evals=[(check, "valid")],
        early_stopping_rounds=cfg.early_stopping,
        verbose_eval=False,
    )


def _sampled(rows: Rows, labels: np.ndarray, cfg: XgbConfig, seed: int) -> tuple[Rows, float]:
    """`rows` of the store a fit reads (`train.fit_sample`) and the weight of a legitimate one."""
    index = np.arange(*rows) if isinstance(rows, tuple) else rows
    sample = fit_sample(labels[index], cfg.max_fit_rows, seed)
    return (rows, 1.0) if sample.rows is None else (index[sample.rows], sample.legit_weight)


# The graph columns each model reads after the tabular ones, and their names.
GRAPH_INPUTS: dict[str, tuple[str, ...]] = {
    TABULAR: (),
    "b_plus_xgb_aggregates": ("aggregates",),
    "c_xgb_graph": ("graph",),
}


def feature_names(extras: tuple[str, ...], dim: int) -> list[str]:
    """Column names of the tabular features followed by the `extras` (`train.train`'s order)."""
    names = list(FEATURE_NAMES)
    for extra in extras:
        names += [f.name for f in (AGGREGATE_FEATURES if extra == "aggregates" else graph_features(dim))]
    return names


def _dask_rows(store: FeatureStore, lo: int, hi: int, extras: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """Rows [lo, hi) as Dask arrays whose blocks are the stored chunks, read by the workers."""
    import dask
    import dask.array as da

    def load(paths: list[Path], i: int, j: int) -> np.ndarray:
        return np.hstack([np.load(p, mmap_mode="r")[i:j] for p in paths])

    xs, ys = [], []
    for k, path in enumerate(store.files):
        a, b = max(lo, store.offsets[k]), min(hi, store.offsets[k + 1])
        if a < b:
            start = store.offsets[k]
            paths = [path, *(store.extras[e][k] for e in extras)]
            width = sum(np.load(p, mmap_mode="r").shape[1] for p in paths)
            block = dask.delayed(load)(paths, a - start, b - start)
            xs.append(da.from_delayed(block, shape=(b - a, width), dtype=np.float32))
            ys.append(da.from_array(store.y[k][a - start : b - start].astype(np.float32), chunks=-1))
    return da.concatenate(xs), da.concatenate(ys)


def fit_xgb_dask(
    client: Any,
    store: FeatureStore,
    fit: tuple[int, int],
    valid: tuple[int, int],
    cfg: XgbConfig,
    extras: tuple[str, ...] = (),
    dim: int = 0,
) -> xgb.Booster:
    """`fit_xgb` on a Dask cluster (`xgboost.dask`): each worker sketches and trains on its chunks.
    The store's directory must be readable by every worker (a shared volume in a cluster). Every row
    is fitted (no `max_fit_rows` sample): the cluster is sized for the data."""
    from xgboost import dask as dxgb

    x, y = _dask_rows(store, *fit, extras=extras)
    xv, yv = _dask_rows(store, *valid, extras=extras)
    names = feature_names(extras, dim)
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
    for x, _ in store.pieces((lo, hi)):
        scores.append(predict(booster, x))
        rule.append(evaluate.seed_rule(x))
    return np.concatenate(scores), np.concatenate(rule)


def score_rows(
    booster: xgb.Booster, store: FeatureStore, rows: Rows, extras: tuple[str, ...] = ()
) -> np.ndarray:
    """XGBoost scores of `rows` (with the `extras` columns), a chunk at a time."""
    out = [predict(booster, x) for x, _ in store.pieces(rows, extras)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


@dataclass
class ChunkedResult:
    """What `train_chunked` trains: the tabular model with its calibration, thresholds, metrics."""

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
    """Train (a) and (b) only on chunks in bounded memory; `client`: a Dask client to fit XGBoost on.

    Periods are those of the in-memory path (`train.split_bounds`); the GNN period's rows are history
    only here. `train_out_of_core` trains every model.
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


def graph_columns_of(store: FeatureStore, suspect: np.ndarray) -> GraphColumns:
    """The stored rows as the graph's `GraphColumns` (what `graph.graph_columns` makes in memory),
    sharing the arrays `build_store` joined."""
    (values,) = store.values
    return GraphColumns(
        event_ms=store.column("event_ms"),
        user=store.column("users"),
        card=store.column("cards"),
        merchant=store.column("merchants"),
        log_amount=values["log_amount"],
        online=values["online"],
        error=values["error"],
        fraud=values["fraud"],
        num_nodes={kind: len(store.ids[kind]) for kind in NODE_TYPES},
        suspect=suspect,
    )


def store_graph_columns(
    store: FeatureStore,
    graph: GraphColumns,
    first: int,
    sage: Any,
    config: TrainConfig,
    progress: Progress | None = None,
) -> None:
    """Per stored chunk, the (c) columns (GraphSAGE risks, exposures, embeddings) and the (b+) columns
    (graph aggregates) of its rows from `first` on (zeros before, as in memory), as two extras.
    A chunk's rows read the daily snapshots of their own days only: one snapshot and its numpy
    GraphSAGE pass at a time, never the embeddings of all rows at once."""
    event_ms = graph.event_ms
    grid = snapshot_times(int(event_ms[first]), int(event_ms[-1]), config.graph.snapshot_every_ms)
    width = {"graph": len(graph_features(config.gnn.dim)), "aggregates": len(AGGREGATE_FEATURES)}
    totals = HistoryTotals(graph)  # the days are walked forward across chunks
    for k in range(len(store.files)):
        a, b = store.offsets[k], store.offsets[k + 1]
        out = {name: np.zeros((b - a, n), dtype=np.float32) for name, n in width.items()}
        if b > first:
            rows = np.arange(max(a, first), b)
            out["graph"][rows - a], out["aggregates"][rows - a] = row_graph_columns(
                graph, rows, grid, sage, config.features, config.graph, totals=totals
            )
        for name, x in out.items():
            store.append_extra(name, x)
        if progress:
            progress("graph columns (chunked)", k + 1, len(store.files))


def train_out_of_core(
    chunks: Iterable[pd.DataFrame],
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    client: Any = None,
    workdir: Path | None = None,
    stages: StageLog | None = None,
) -> TrainResult:
    """Every model of `train.train`, in bounded memory: the same periods, suspicion model, GraphSAGE
    (whole snapshots or `NeighborLoader` mini-batches), graph columns (by chunk), XGBoost fits (from
    chunk iterators, or on Dask with `client`), gate, metrics and served tables; the result makes the
    same artifact (`report.artifact_files`).

    In memory besides one chunk: the per-row columns (event time, label, node codes, the graph's
    amount/online/error/fraud/suspect values and the suspicion scores: about 70 bytes a row), the
    GNN's training snapshots and one scoring snapshot at a time (nodes and the edge window's edges),
    and XGBoost's compressed bins of the rows it fits.
    """
    config = config or TrainConfig()
    stages = stages or StageLog()
    report = progress or (lambda *_: None)
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
        gnn_end = bounds["gnn"][1]
        with stages.stage("suspicion model (chunked)"):

            def fit(rows: np.ndarray, stop: np.ndarray) -> xgb.Booster:
                return fit_xgb(store, rows, stop, config.xgb)

            def score(model: xgb.Booster, rows: np.ndarray) -> np.ndarray:
                return score_rows(model, store, rows)

            suspect, suspicion = suspicion_from(fit, score, y, cards, event_ms, gnn_end, config)
        graph = graph_columns_of(store, suspect)
        del suspect
        with stages.stage("GraphSAGE training"):
            cutoffs = _gnn_cutoffs(event_ms, gnn_end, config)
            sage, gnn_summary = fit_gnn_bounded(
                graph,
                cutoffs,
                config.features,
                config.graph,
                config.gnn,
                lambda i, n, _loss: report("GraphSAGE training", i, n),
            )
        with stages.stage("graph columns (chunked)"):
            store_graph_columns(store, graph, bounds["fit"][0], sage, config, progress)
        candidates: dict[str, Candidate] = {}
        for key, extras in GRAPH_INPUTS.items():
            with stages.stage(f"XGBoost {key}" + (" (dask)" if client is not None else "")):
                candidates[key] = _fit_candidate(store, y, bounds, extras, config, client)
        with stages.stage("evaluation"):
            test = bounds["test"]
            rule = np.concatenate([evaluate.seed_rule(x) for x, _ in store.pieces(test)])
            result = finish(
                {"event_ms": event_ms, "card_id": cards},
                y,
                bounds,
                candidates,
                rule,
                graph,
                store.ids,
                sage,
                config,
                {"gnn_training": gnn_summary, "suspicion_model": suspicion},
            )
        result.metrics["training_run"] = stages.report(
            "chunked" + ("+dask" if client is not None else ""), store.rows
        )
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _fit_candidate(
    store: FeatureStore,
    y: np.ndarray,
    bounds: dict[str, tuple[int, int]],
    extras: tuple[str, ...],
    config: TrainConfig,
    client: Any,
) -> Candidate:
    fit, valid, test = bounds["fit"], bounds["valid"], bounds["test"]
    dim = config.gnn.dim
    if client is not None:
        booster = fit_xgb_dask(client, store, fit, valid, config.xgb, extras, dim)
    else:
        booster = fit_xgb(store, fit, valid, config.xgb, extras, dim)
    return candidate_from_scores(
        booster,
        score_rows(booster, store, valid, extras),
        y[valid[0] : valid[1]],
        score_rows(booster, store, test, extras),
        config,
    )
