"""Training pipeline: time split, features, GraphSAGE, XGBoost, calibration, thresholds, evaluation.

Time periods (by event time, in this order; fractions are of rows):

    gnn    the GraphSAGE model's own training period (its labels stay in it), and the suspicion
           model's (a tabular XGBoost whose flags feed the graph's no-delay CPP features)
    fit    XGBoost training rows for (b) tabular, (b+) tabular + cheap graph aggregates and
           (c) tabular + GraphSAGE
    valid  early stopping, calibration, decision thresholds, and the gate that picks the served model
    test   the reported metrics, touched once (never used to pick a model)

Features of every row use all history before it (earlier periods included), never later rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from fraudlake.ml import evaluate, gate
from fraudlake.ml.aggregates import AGGREGATE_FEATURES, node_aggregates
from fraudlake.ml.batch_features import batch_features, codes
from fraudlake.ml.data import TrainingDataError, columns
from fraudlake.ml.embed_numpy import SageWeights, forward
from fraudlake.ml.features import FEATURE_NAMES, FeatureConfig, graph_features, spec_json
from fraudlake.ml.graph import GnnConfig, fit_gnn, graph_columns, row_graph_columns
from fraudlake.ml.graph_data import GraphColumns, GraphConfig, card_exposures, snapshot, snapshot_times

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class SplitConfig:
    """Period sizes as fractions of rows, or explicit start times of fit / valid / test."""

    gnn: float = 0.30
    fit: float = 0.40
    valid: float = 0.15  # test gets the rest
    starts: tuple[str, ...] | None = None  # ISO 8601 (UTC) starts of fit, valid, test


@dataclass(frozen=True)
class XgbConfig:
    rounds: int = 400
    early_stopping: int = 40
    max_depth: int = 6
    eta: float = 0.08
    subsample: float = 0.8
    colsample: float = 0.8
    min_child_weight: float = 2.0
    threads: int = 2
    seed: int = 7
    # A fit (and its early-stopping set) reads at most this many rows: every fraud and a seeded
    # uniform sample of the legitimate rows, each weighted by the inverse of its sampling rate so the
    # booster still sees the data's base rate (`fit_sample`). Frauds are about 0.1% of rows; beyond a
    # million rows more legitimate ones cost linear time and add little a tree can split on, so
    # training time stops growing with history. None: every row.
    max_fit_rows: int | None = 1_000_000


@dataclass(frozen=True)
class FitSample:
    """The rows an XGBoost fit reads out of a period's rows, and the weight of a legitimate one."""

    rows: np.ndarray | None  # sorted positions within the period; None: every row (weight 1)
    legit_weight: float = 1.0

    def weights(self, y: np.ndarray) -> np.ndarray | None:
        """Per-row weights of the sampled rows' labels `y` (None when nothing was sampled)."""
        return None if self.rows is None else np.where(y == 1, 1.0, self.legit_weight).astype(np.float32)

    def to_json(self, total: int) -> dict[str, Any]:
        kept = total if self.rows is None else len(self.rows)
        return {"rows": total, "fitted": kept, "legit_weight": self.legit_weight}


def fit_sample(y: np.ndarray, max_rows: int | None, seed: int) -> FitSample:
    """Every fraud of `y` and `max_rows` − frauds legitimate rows drawn uniformly without replacement
    (seeded); within the budget, every row. Frauds are never dropped, even past the budget."""
    if max_rows is None or len(y) <= max_rows:
        return FitSample(None)
    fraud, legit = np.flatnonzero(y == 1), np.flatnonzero(y != 1)
    keep = min(len(legit), max(max_rows - len(fraud), 1))
    chosen = np.random.default_rng(seed).choice(legit, size=keep, replace=False)
    return FitSample(np.sort(np.concatenate([fraud, chosen])), len(legit) / keep)


@dataclass(frozen=True)
class TrainConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    gnn: GnnConfig = field(default_factory=GnnConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    xgb: XgbConfig = field(default_factory=XgbConfig)
    # The suspicion model flags a transaction for the graph when its score reaches this precision
    # (measured out of fold on the GNN period).
    suspicion_precision: float = 0.50
    review_precision: float = 0.30  # an analyst queue where ≥ 30% of reviewed transactions are fraud
    # When validation cannot show the review precision, the queue is the riskiest share of transactions
    # analysts can work (e.g. 0.5%: 500 reviews a day at 100,000 transactions a day).
    review_capacity: float = 0.005
    decline_precision: float = 0.90  # automatic declines must be right ≥ 90% of the time
    bootstrap: int = 200
    # Below this many defrauded cards in validation no comparison of models is conclusive: the gate
    # serves (b), the simplest model with a working review threshold.
    min_fraud_cards: int = 10


@dataclass
class TrainResult:
    """Everything the artifact stores; `evaluation` holds test labels and scores for the plots."""

    version: str
    spec: dict[str, Any]
    served: str  # the gate's choice: b_xgb_tabular, b_plus_xgb_aggregates or c_xgb_graph
    booster: xgb.Booster  # the served model
    booster_tabular: xgb.Booster  # (b), kept for comparison and fallback
    calibration: evaluate.Calibration
    thresholds: dict[str, evaluate.Threshold]
    sage: SageWeights
    tables: dict[str, dict[str, np.ndarray]]  # ids / x / h1 / h2 per node type, last snapshot
    metrics: dict[str, Any]
    evaluation: dict[str, np.ndarray]


def split_bounds(event_ms: np.ndarray, split: SplitConfig) -> dict[str, tuple[int, int]]:
    """Row index ranges per period; a boundary never cuts rows of the same millisecond apart."""
    n = len(event_ms)
    if split.starts is not None:
        if len(split.starts) != 3:
            raise TrainingDataError("explicit split needs three start times: fit, valid, test")
        times = [
            pd.Timestamp(s, tz="UTC") if pd.Timestamp(s).tzinfo is None else pd.Timestamp(s)
            for s in split.starts
        ]
        cut_ms = [int(t.value // 1_000_000) for t in times]
        if cut_ms != sorted(cut_ms):
            raise TrainingDataError(f"split starts must be increasing, got {', '.join(split.starts)}")
    else:
        edges = np.cumsum([0.0, split.gnn, split.fit, split.valid])
        cut_ms = [int(event_ms[min(int(f * n), n - 1)]) for f in edges[1:]]
    cuts = [int(np.searchsorted(event_ms, c, "left")) for c in cut_ms]
    bounds = [0, *cuts, n]
    return {name: (bounds[i], bounds[i + 1]) for i, name in enumerate(("gnn", "fit", "valid", "test"))}


def _gnn_cutoffs(event_ms: np.ndarray, gnn_end: int, config: TrainConfig) -> np.ndarray:
    """Cutoffs whose labelled horizon ends before the GNN period ends minus the label delay."""
    t0, t_end = int(event_ms[0]), int(event_ms[gnn_end - 1]) + 1
    last = t_end - config.graph.horizon_ms - config.features.label_delay_ms
    first = t0 + (last - t0) // 3  # leave the earliest history to build the first graphs from
    grid = snapshot_times(first, last, config.graph.snapshot_every_ms)
    grid = grid[(grid >= first) & (grid <= last)]
    if len(grid) == 0:
        raise TrainingDataError("the GNN period is shorter than horizon + label delay; use more history")
    pick = np.unique(np.linspace(0, len(grid) - 1, min(config.gnn.max_train_snapshots, len(grid))).round())
    return grid[pick.astype(int)]


def suspicion_flags(
    x_tab: np.ndarray,
    y: np.ndarray,
    cards: np.ndarray,
    event_ms: np.ndarray,
    gnn_end: int,
    config: TrainConfig,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Transactions a tabular model calls suspicious, as the graph's fraud signal without label delay.

    Confirmed frauds reach the graph a label delay late: a breached merchant shows in them only once
    its first victims' chargebacks arrive, and by then many of its other cards have been defrauded.
    A suspicion is known at once. The model is trained on the GNN period's rows whose labels are known
    when the fit period starts, and it flags every later row: no later label reaches any row XGBoost
    trains or is evaluated on. GNN-period rows are flagged out of fold (cards split in two), so no row
    is flagged by a model that saw its own label. The threshold reaches `suspicion_precision` on those
    out-of-fold scores; when it cannot (too few frauds), nothing is flagged.
    """
    names, cfg = list(FEATURE_NAMES), config.xgb

    def fit(rows: np.ndarray, stop: np.ndarray) -> xgb.Booster:
        return _fit_xgb(x_tab[rows], y[rows], x_tab[stop], y[stop], names, cfg)

    return suspicion_from(
        fit, lambda model, rows: predict(model, x_tab[rows]), y, cards, event_ms, gnn_end, config
    )


# (rows to fit, rows to stop early on) → booster; (booster, rows) → raw scores. Rows are sorted indices.
FitRows = Callable[[np.ndarray, np.ndarray], xgb.Booster]
ScoreRows = Callable[[xgb.Booster, np.ndarray], np.ndarray]


def suspicion_from(
    fit: FitRows,
    score: ScoreRows,
    y: np.ndarray,
    cards: np.ndarray,
    event_ms: np.ndarray,
    gnn_end: int,
    config: TrainConfig,
) -> tuple[np.ndarray, dict[str, Any]]:
    """`suspicion_flags` with the fit and the scoring given as functions of row indices, so the
    out-of-core path runs the same procedure over its stored feature chunks."""
    known = int(np.searchsorted(event_ms, event_ms[gnn_end] - config.features.label_delay_ms, "right"))
    stop = int(known * 0.8)  # early stopping on the latest fifth of the known rows
    flags = np.zeros(len(y), dtype=np.float64)
    if y[:stop].sum() == 0 or y[stop:known].sum() == 0:
        return flags, {"trained": False, "reason": "no fraud to learn from in the GNN period"}
    fold = cards % 2
    scores = np.zeros(len(y), dtype=np.float32)
    for f in (0, 1):
        model = fit(np.flatnonzero(fold[:stop] != f), stop + np.flatnonzero(fold[stop:known] != f))
        mine = np.flatnonzero(fold[:gnn_end] == f)
        scores[mine] = score(model, mine)
    model = fit(np.arange(stop), np.arange(stop, known))
    scores[gnn_end:] = score(model, np.arange(gnn_end, len(y)))
    threshold = evaluate.choose_threshold(y[:known], scores[:known], config.suspicion_precision)
    flags[scores >= threshold.value] = 1.0
    summary = {
        "trained": True,
        "threshold": threshold.value if threshold.reachable else None,
        "out_of_fold_precision": threshold.precision if threshold.reachable else None,
        "out_of_fold_recall": threshold.recall,
        "flagged_rows": int(flags.sum()),
    }
    return flags, summary


def xgb_params(cfg: XgbConfig) -> dict[str, Any]:
    """Booster parameters of every XGBoost fit (in memory, out of core, on Dask)."""
    return {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "tree_method": "hist",
        "max_depth": cfg.max_depth,
        "eta": cfg.eta,
        "subsample": cfg.subsample,
        "colsample_bytree": cfg.colsample,
        "min_child_weight": cfg.min_child_weight,
        "nthread": cfg.threads,
        "seed": cfg.seed,
    }


def _fit_xgb(
    x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, names: list[str], cfg: XgbConfig
) -> xgb.Booster:
    params = xgb_params(cfg)
    x, y, w = _sampled(x, y, cfg, cfg.seed)
    xv, yv, wv = _sampled(xv, yv, cfg, cfg.seed + 1)
    train = xgb.QuantileDMatrix(x, y, weight=w, feature_names=names)
    valid = xgb.DMatrix(xv, yv, weight=wv, feature_names=names)
    return xgb.train(
        params,
        train,
        cfg.rounds,
        evals=[(valid, "valid")],
        early_stopping_rounds=cfg.early_stopping,
        verbose_eval=False,
    )


def _sampled(
    x: np.ndarray, y: np.ndarray, cfg: XgbConfig, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(features, labels, weights) of the rows a fit reads (`fit_sample`)."""
    sample = fit_sample(y, cfg.max_fit_rows, seed)
    if sample.rows is None:
        return x, y, None
    return x[sample.rows], y[sample.rows], sample.weights(y[sample.rows])


def predict(booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
    """Raw probabilities with the early-stopped number of trees."""
    best = getattr(booster, "best_iteration", None)
    return booster.inplace_predict(x, iteration_range=(0, best + 1) if best is not None else (0, 0))


def train(
    frame: pd.DataFrame, config: TrainConfig | None = None, progress: Progress | None = None
) -> TrainResult:
    """Train and evaluate on a prepared frame (`fraudlake.ml.data.prepare`)."""
    config = config or TrainConfig()
    report = progress or (lambda *_: None)
    cols = columns(frame)
    y = cols["is_fraud"].astype(int)
    bounds = split_bounds(cols["event_ms"], config.split)
    for name, (lo, hi) in bounds.items():
        if y[lo:hi].sum() == 0 and name != "gnn":
            raise TrainingDataError(f"no fraud in the {name} period ({hi - lo} rows): cannot train/evaluate")
    report("tabular features", 0, 1)
    x_tab = batch_features(cols, config.features).astype(np.float32)
    report("tabular features", 1, 1)

    report("suspicion model", 0, 1)
    suspect, suspicion = suspicion_flags(
        x_tab, y, codes(cols["card_id"]), cols["event_ms"], bounds["gnn"][1], config
    )
    report("suspicion model", 1, 1)
    graph, ids = graph_columns(cols, suspect)
    cutoffs = _gnn_cutoffs(cols["event_ms"], bounds["gnn"][1], config)
    sage, gnn_summary = fit_gnn(
        graph,
        cutoffs,
        config.features,
        config.graph,
        config.gnn,
        lambda i, n, _loss: report("GraphSAGE training", i, n),
    )
    lo = bounds["fit"][0]
    grid = snapshot_times(
        int(cols["event_ms"][lo]), int(cols["event_ms"][-1]), config.graph.snapshot_every_ms
    )
    x_graph = np.zeros((len(y), len(graph_features(config.gnn.dim))), dtype=np.float32)
    x_agg = np.zeros((len(y), len(AGGREGATE_FEATURES)), dtype=np.float32)
    x_graph[lo:], x_agg[lo:] = row_graph_columns(
        graph,
        np.arange(lo, len(y)),
        grid,
        sage,
        config.features,
        config.graph,
        lambda i, n: report("graph columns", i, n),
    )
    tabular = list(FEATURE_NAMES)
    inputs = {
        "b_xgb_tabular": (tabular, x_tab),
        "b_plus_xgb_aggregates": (tabular + [f.name for f in AGGREGATE_FEATURES], np.hstack([x_tab, x_agg])),
        "c_xgb_graph": (
            tabular + [f.name for f in graph_features(config.gnn.dim)],
            np.hstack([x_tab, x_graph]),
        ),
    }
    del x_graph, x_agg
    fit, valid, test = (slice(*bounds[k]) for k in ("fit", "valid", "test"))
    candidates = {}
    for key, (names, x) in inputs.items():
        report(f"XGBoost {key}", 0, 1)
        booster = _fit_xgb(x[fit], y[fit], x[valid], y[valid], names, config.xgb)
        candidates[key] = _candidate(booster, x[valid], y[valid], x[test], config)
        report(f"XGBoost {key}", 1, 1)
    del inputs

    report("evaluation", 0, 1)
    result = finish(
        cols,
        y,
        bounds,
        candidates,
        evaluate.seed_rule(x_tab[bounds["test"][0] : bounds["test"][1]]),
        graph,
        ids,
        sage,
        config,
        {"gnn_training": gnn_summary, "suspicion_model": suspicion},
    )
    report("evaluation", 1, 1)
    return result


def finish(
    cols: dict[str, np.ndarray],
    y: np.ndarray,
    bounds: dict[str, tuple[int, int]],
    candidates: dict[str, Candidate],
    rule_test_scores: np.ndarray,
    graph: GraphColumns,
    ids: dict[str, np.ndarray],
    sage: SageWeights,
    config: TrainConfig,
    extra_metrics: dict[str, Any],
) -> TrainResult:
    """The gate over the candidates, the metrics, the served node tables (the graph as of the last
    row) and the version: everything after the XGBoost fits, for the in-memory and chunked paths.
    `cols` needs event_ms and card_id (any per-card key: only grouping reads it)."""
    valid, test = (slice(*bounds[k]) for k in ("valid", "test"))
    decision = gate.choose(
        y[valid],
        {k: c.valid_scores for k, c in candidates.items()},
        cols["card_id"][valid],
        {k: c.thresholds["review"].working for k, c in candidates.items()},
        gate.GateConfig(
            bootstrap=config.bootstrap, seed=config.xgb.seed, min_fraud_cards=config.min_fraud_cards
        ),
    )
    served = candidates[decision.served]
    scores = {"a_rule": rule_test_scores} | {k: c.test_scores for k, c in candidates.items()}
    metrics = (
        _metrics(cols, y, bounds, scores, decision.served, served, config)
        | {"gate": decision.to_json(), "served_model": decision.served}
        | extra_metrics
    )
    final = snapshot(graph, int(cols["event_ms"][-1]) + 1, config.features, config.graph)
    x_std, h1, h2 = forward(sage, final.x, final.edges)
    aggregates = node_aggregates(final)
    tables = {
        kind: {
            "ids": ids[kind].astype(str),
            "x": x_std[kind].astype(np.float32),
            "h1": h1[kind].astype(np.float32),
            "h2": h2[kind].astype(np.float32),
            "aggregates": aggregates[kind],
        }
        for kind in ids
    }
    tables["card"]["exposure"] = card_exposures(final.x["card"])
    spec = _spec(decision.served, config)
    model_bytes = bytes(served.booster.save_raw("json"))
    end = pd.Timestamp(int(cols["event_ms"][-1]), unit="ms", tz="UTC")
    version = f"{end:%Y%m%dT%H%M%SZ}-{hashlib.sha256(model_bytes).hexdigest()[:8]}"
    evaluation = {"y": y[test], **scores, "served_calibrated": served.calibration(served.test_scores)}
    return TrainResult(
        version,
        spec,
        decision.served,
        served.booster,
        candidates["b_xgb_tabular"].booster,
        served.calibration,
        served.thresholds,
        sage,
        tables,
        metrics,
        evaluation,
    )


# The graph columns each servable model reads after the tabular ones (`FraudModel.graph_features`).
GRAPH_COLUMNS = {"b_xgb_tabular": "none", "b_plus_xgb_aggregates": "aggregates", "c_xgb_graph": "graphsage"}


def _spec(served: str, config: TrainConfig) -> dict[str, Any]:
    """The served model's feature spec: the tabular columns, then its graph columns."""
    kind = GRAPH_COLUMNS[served]
    spec = spec_json(config.features, config.gnn.dim if kind == "graphsage" else None)
    if kind == "aggregates":
        spec["features"] += [asdict(f) for f in AGGREGATE_FEATURES]
    return spec | {"graph": _asdict(config.graph), "graph_columns": kind}


@dataclass
class Candidate:
    """One XGBoost model of the gate, calibrated and thresholded on the validation period."""

    booster: xgb.Booster
    valid_scores: np.ndarray  # raw
    test_scores: np.ndarray  # raw
    calibration: evaluate.Calibration
    thresholds: dict[str, evaluate.Threshold]


def _candidate(
    booster: xgb.Booster, x_valid: np.ndarray, y_valid: np.ndarray, x_test: np.ndarray, config: TrainConfig
) -> Candidate:
    return candidate_from_scores(
        booster, predict(booster, x_valid), y_valid, predict(booster, x_test), config
    )


def candidate_from_scores(
    booster: xgb.Booster,
    raw_valid: np.ndarray,
    y_valid: np.ndarray,
    raw_test: np.ndarray,
    config: TrainConfig,
) -> Candidate:
    """Calibration and thresholds on validation scores already predicted (out of core: by chunk)."""
    calibration = evaluate.Calibration.fit(raw_valid, y_valid)
    cal_valid = calibration(raw_valid)
    thresholds = {
        "review": evaluate.review_threshold(
            y_valid, cal_valid, config.review_precision, config.review_capacity
        ),
        "decline": evaluate.choose_threshold(y_valid, cal_valid, config.decline_precision),
    }
    return Candidate(booster, raw_valid, raw_test, calibration, thresholds)


def _asdict(obj: Any) -> dict[str, Any]:
    return dict(obj.__dict__)


def _window(cols: dict[str, np.ndarray], lo: int, hi: int, y: np.ndarray) -> dict[str, Any]:
    ts = pd.to_datetime(cols["event_ms"][[lo, hi - 1]], unit="ms", utc=True)
    return {
        "start": ts[0].isoformat(),
        "end": ts[1].isoformat(),
        "rows": hi - lo,
        "frauds": int(y[lo:hi].sum()),
        "cards": len(np.unique(cols["card_id"][lo:hi])),
    }


def _metrics(
    cols: dict[str, np.ndarray],
    y: np.ndarray,
    bounds: dict[str, tuple[int, int]],
    scores: dict[str, np.ndarray],
    served_key: str,
    served: Candidate,
    config: TrainConfig,
) -> dict[str, Any]:
    lo, hi = bounds["test"]
    y_test = y[lo:hi]
    cards = cols["card_id"][lo:hi]
    thresholds = served.thresholds
    decided = evaluate.decisions(
        served.calibration(scores[served_key]), thresholds["review"].value, thresholds["decline"].value
    )
    pairs: list[tuple[str, str]] = [
        (k, "b_xgb_tabular") for k in ("b_plus_xgb_aggregates", "c_xgb_graph") if k in scores
    ]
    if {"c_xgb_graph", "b_plus_xgb_aggregates"} <= scores.keys():  # does the GNN beat cheap aggregates?
        pairs.append(("c_xgb_graph", "b_plus_xgb_aggregates"))
    pairs.append(("b_xgb_tabular", "a_rule"))  # the out-of-core path scores (a) and (b) only
    fit_lo, fit_hi = bounds["fit"]
    sample = fit_sample(y[fit_lo:fit_hi], config.xgb.max_fit_rows, config.xgb.seed)
    return {
        "periods": {name: _window(cols, a, b, y) for name, (a, b) in bounds.items()},
        "xgb_fit_rows": sample.to_json(fit_hi - fit_lo) | {"max_fit_rows": config.xgb.max_fit_rows},
        "test": {name: evaluate.ranking_metrics(y_test, s) for name, s in scores.items()},
        "test_auc_pr_ci95_by_card_bootstrap": evaluate.card_bootstrap(
            y_test, scores, cards, pairs, n=config.bootstrap, seed=config.xgb.seed
        ),
        "test_fraud_cards": len(np.unique(cards[y_test == 1])),
        "thresholds": {k: t.__dict__ for k, t in thresholds.items()},
        "test_decisions": evaluate.decision_table(y_test, decided),
        "targets": {
            "review_precision": config.review_precision,
            "review_capacity": config.review_capacity,
            "decline_precision": config.decline_precision,
        },
    }
