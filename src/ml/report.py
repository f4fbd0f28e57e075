"""Human-readable outputs of a training run: PR curves, feature importance, model card."""

from __future__ import annotations

import io
import json
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve

from fraudlake.ml.train import TrainResult

LABELS = {
    "a_rule": "(a) seeds' rule: 10-min count ≥ 2 and total > user average",
    "b_xgb_tabular": "(b) XGBoost, tabular features",
    "b_plus_xgb_aggregates": "(b+) XGBoost + graph aggregates: merchant/neighbourhood fraud rates, CPP",
    "c_xgb_graph": "(c) XGBoost + graph: GraphSAGE embeddings, CPP exposures",
}


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def pr_curves_png(result: TrainResult) -> bytes:
    """Precision-recall curves of (a), (b), (b+), (c) on the test period."""
    y = result.evaluation["y"]
    fig, ax = plt.subplots(figsize=(7, 5))
    for key, label in LABELS.items():
        prec, rec, _ = precision_recall_curve(y, result.evaluation[key])
        auc_pr = result.metrics["test"][key]["auc_pr"]
        ax.step(rec, prec, where="post", label=f"{label} (AUC-PR {auc_pr:.3f})")
    ax.axhline(y.mean(), color="grey", lw=0.8, ls=":", label=f"fraud rate {y.mean():.4f}")
    ax.set(
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title=f"Test period: {len(y):,} transactions, {int(y.sum())} frauds",
    )
    ax.legend(loc="upper right", fontsize=8)
    return _png(fig)


def importance(result: TrainResult, top: int = 25) -> list[tuple[str, float]]:
    """Top features of the served model by total gain."""
    # One number per feature: xgboost gives lists only for gblinear's "weight" importance.
    gain = cast(dict[str, float], result.booster.get_score(importance_type="total_gain"))
    return sorted(gain.items(), key=lambda kv: -kv[1])[:top]


def importance_png(result: TrainResult, top: int = 25) -> bytes:
    items = importance(result, top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(items) + 1))
    colors = ["tab:orange" if name.startswith("graph_") else "tab:blue" for name, _ in items]
    ax.barh([n for n, _ in items], [v for _, v in items], color=colors)
    ax.set(xlabel="total gain", title=f"Served model {result.served}: top features (orange = graph)")
    return _png(fig)


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def model_card(result: TrainResult, source: str) -> str:
    """Markdown model card: data window, metrics with intervals, decisions, limits."""
    m = result.metrics
    periods = "\n".join(
        f"| {name} | {p['start'][:19]} | {p['end'][:19]} | {p['rows']:,} | {p['frauds']} | {p['cards']:,} |"
        for name, p in m["periods"].items()
    )
    ci = m["test_auc_pr_ci95_by_card_bootstrap"]
    rows = "\n".join(
        f"| {LABELS[k]} | {_fmt(v['auc_pr'])} [{_fmt(ci[k][0]) if ci.get(k) else 'n/a'}, "
        f"{_fmt(ci[k][1]) if ci.get(k) else 'n/a'}] | {_fmt(v['roc_auc'])} | {_fmt(v['recall_at_p90'])} "
        f"| {_fmt(v['recall_at_p95'])} |"
        for k, v in m["test"].items()
    )
    diffs = "\n".join(
        f"- AUC-PR difference {k.replace('-', ' − ')}: 95% interval [{_fmt(v[0])}, {_fmt(v[1])}]"
        for k, v in ci.items()
        if "-" in k and v
    )
    th = m["thresholds"]
    gate = m["gate"]
    gate_rows = "\n".join(
        f"| {LABELS[k]} | {_fmt(c['auc_pr'])} | {_interval(c['difference_ci95'])} | {c['note']} |"
        for k, c in gate["candidates"].items()
    )
    dec = "\n".join(
        f"| {k} | {v['rows']:,} | {v['frauds']} | {_fmt(v['precision'])} | {_fmt(v['fraud_share'])} |"
        for k, v in m["test_decisions"].items()
    )
    top = ", ".join(name for name, _ in importance(result, 10))
    return f"""# Fraud model {result.version}

Served model: {LABELS[result.served]}, isotonic-calibrated. Trained from `{source}`.

## Which model is served, and why

{gate["reason"]}.

Validation period ({gate["validation_fraud_cards"]} defrauded cards); the difference is AUC-PR minus (b)'s,
with a 95% card-bootstrap interval:

| model | validation AUC-PR | difference to (b) | gate |
|---|---|---|---|
{gate_rows}

(c) adds GraphSAGE risks and embeddings of the transaction's card, merchant and user and the card's
common-point-of-purchase exposures; (b+) adds the graph's plain aggregates (the merchant's confirmed
fraud rate and CPP counts, the card's exposures and its merchants' highest fraud rate), labels only
once the label delay has passed.

## Data window (time split by event time)

| period | from | to | rows | frauds | cards |
|---|---|---|---|---|---|
{periods}

`gnn` trains GraphSAGE and the suspicion model (labels of that period only), `fit` trains XGBoost,
`valid` early-stops, calibrates and sets the thresholds, `test` is used once, for the numbers below.

## Test metrics

| model | AUC-PR [95% card-bootstrap] | ROC-AUC | recall @ 90% precision | recall @ 95% precision |
|---|---|---|---|---|
{rows}

{diffs}

Test frauds: {int(result.evaluation["y"].sum())} on {m["test_fraud_cards"]} cards.

## Decisions

Thresholds on the calibrated probability of the served model, chosen on the validation period:
{_review_sentence(th["review"], m["targets"])}
{_decline_sentence(th["decline"], m["targets"])} On the test period:

| decision | rows | frauds | precision | share of frauds |
|---|---|---|---|---|
{dec}

Most important features (total gain): {top}.

{_labels(m.get("labels"))}{_training_run(m.get("training_run"))}## Limits

{_gnn_limit(m.get("gnn_training", {}))}{_suspicion_limit(m.get("suspicion_model", {}))}\
{_small_test_limit(m["test_fraud_cards"])}\
- Labels are used only when {result.spec["config"]["label_delay_ms"] / 86_400_000:g} days old; real
  chargeback delays vary, and a longer delay weakens merchant-risk and graph features.
- Graph embeddings are refreshed once per {result.spec["graph"]["snapshot_every_ms"] / 3_600_000:g} h
  snapshot; fraud that moves faster than a snapshot is seen by the velocity features only.
- Metrics hold for data like the training window; a new fraud pattern, a different population or a
  fraud rate far from {m["periods"]["test"]["frauds"] / max(m["periods"]["test"]["rows"], 1):.4%}
  changes precision at every threshold. Few test frauds mean wide intervals (see above): compare
  models by the intervals, not the third decimal.
- Trained on {"synthetic (generated)" if "gen" in source else "the given"} data; validate on real
  labelled traffic before using the decline band.
"""


def _labels(sources: dict[str, int] | None) -> str:
    """Where the training data's labels came from (`fraudlake.ml.data.label_sources`), when known."""
    if not sources:
        return ""
    return f"""## Labels

Labels from analysts: {sources.get("analyst", 0):,} transactions took their label from an analyst's
disposition, {sources.get("chargeback", 0):,} from a chargeback (no disposition), and
{sources.get("transaction", 0):,} from the transaction's own `is_fraud`.

"""


def _training_run(run: dict[str, Any] | None) -> str:
    """Rows, path, seconds and peak memory per stage (`fraudlake.ml.stages`), when the trainer kept them."""
    if not run:
        return ""
    stages = "\n".join(
        f"| {name} | {s['seconds']:,.1f} | {s['peak_rss_gb']:.2f} |" for name, s in run["stages"].items()
    )
    return f"""## Training run

{run["rows"]:,} rows on the {run["path"]} path in {run["seconds"]:,.0f} s, peak memory
{run["peak_rss_gb"]:.2f} GB (peak RSS so far at the end of each stage):

| stage | seconds | peak RSS (GB) |
|---|---|---|
{stages}

"""


def _interval(ci: list[float]) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "—"


def _review_sentence(review: dict[str, Any], targets: dict[str, Any]) -> str:
    if review.get("basis") == "capacity":
        return (
            f"no threshold reached the review precision target {targets['review_precision']} on validation,"
            f" so review is a capacity queue: the top {review['capacity']:.2%} of scores, at ≥"
            f" {_fmt(review['value'])} (on validation: {review['flagged_share']:.2%} of transactions,"
            f" precision {_fmt(review['precision'])}, recall {_fmt(review['recall'])})."
        )
    return (
        f"review at ≥ {_fmt(review['value'])} (target precision {targets['review_precision']}; on"
        f" validation precision {_fmt(review['precision'])}, recall {_fmt(review['recall'])})."
    )


def _decline_sentence(decline: dict[str, Any], targets: dict[str, Any]) -> str:
    if not decline["reachable"]:
        return (
            f"Decline is off: no threshold reached its target precision {targets['decline_precision']}"
            " with at least 3 frauds on validation."
        )
    return (
        f"Decline at ≥ {_fmt(decline['value'])} (target precision {targets['decline_precision']}; on"
        f" validation precision {_fmt(decline['precision'])}, recall {_fmt(decline['recall'])})."
    )


def _small_test_limit(fraud_cards: int) -> str:
    if fraud_cards >= 10:
        return ""
    return (
        f"- The test period has frauds on only {fraud_cards} card(s): a bootstrap over so few cards cannot\n"
        "  give a meaningful interval, and no model comparison on this data is conclusive.\n"
    )


def _gnn_limit(summary: dict[str, Any]) -> str:
    if not summary:
        return ""
    if summary.get("usable_snapshots", 0) == 0:
        return (
            "- GraphSAGE had no fraud to learn from in its period: its embeddings are untrained\n"
            "  projections of the graph, and (c) can only be as good as (b).\n"
        )
    pos = summary.get("positive_nodes", {})
    return (
        f"- GraphSAGE learned from {summary['usable_snapshots']} snapshots with {pos.get('card', 0)} "
        f"defrauded cards and {pos.get('merchant', 0)} merchants (summed over snapshots).\n"
    )


def _suspicion_limit(summary: dict[str, Any]) -> str:
    if not summary:
        return ""
    if not summary.get("flagged_rows"):
        why = summary.get("reason") or "no score reached the target precision out of fold"
        return (
            f"- The suspicion model flagged nothing ({why}): the suspected CPP features are 0\n"
            "  throughout, and only confirmed frauds (after the label delay) mark breached merchants.\n"
        )
    return (
        f"- The suspicion model flagged {summary['flagged_rows']} transactions (out of fold on the gnn\n"
        f"  period: precision {summary['out_of_fold_precision']:.2f}, recall "
        f"{summary['out_of_fold_recall']:.2f}).\n"
    )


EVALUATION_SCHEMA = 1  # evaluation.json: bump on a change its readers (the API's model report) must know
PR_CURVE_POINTS = 200  # points kept per precision-recall curve in evaluation.json
# Candidate thresholds of the decision table, on the served model's calibrated probability.
DECISION_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def _downsample(n: int, keep: int) -> np.ndarray:
    """At most `keep` indices of 0..n-1, evenly spread, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, keep)).round().astype(int)) if n else np.zeros(0, int)


def evaluation(result: TrainResult) -> dict[str, Any]:
    """evaluation.json: what the test period says beyond the headline metrics, for the model report.

    Precision-recall curves of (a), (b), (b+), (c) (at most `PR_CURVE_POINTS` points each), and the
    served model's decision table: at each candidate threshold of its calibrated probability (and at
    its review and decline thresholds) the frauds caught and missed and the false alarms.
    """
    y = np.asarray(result.evaluation["y"], dtype=int)
    curves = {}
    for key in LABELS:
        precision, recall, _ = precision_recall_curve(y, result.evaluation[key])
        # sklearn lists the curve from the lowest threshold (recall 1) up; keep it in recall order.
        keep = _downsample(len(recall), PR_CURVE_POINTS)
        curves[key] = {
            "recall": recall[::-1][keep].tolist(),
            "precision": precision[::-1][keep].tolist(),
        }
    served = np.asarray(result.evaluation["served_calibrated"], dtype=np.float64)
    bands = {
        name: float(t.value) for name, t in result.thresholds.items() if t.reachable and np.isfinite(t.value)
    }
    points = sorted({*DECISION_GRID, *bands.values()})
    table = []
    for threshold in points:
        flagged = served >= threshold
        caught = int(y[flagged].sum())
        table.append(
            {
                "threshold": threshold,
                "bands": [name for name, value in bands.items() if value == threshold],
                "flagged": int(flagged.sum()),
                "caught": caught,
                "missed": int(y.sum()) - caught,
                "false_alarms": int(flagged.sum()) - caught,
            }
        )
    return {
        "schema_version": EVALUATION_SCHEMA,
        "period": "test",
        "rows": len(y),
        "frauds": int(y.sum()),
        "served_model": result.served,
        "pr_curves": curves,
        "decision_table": table,
    }


def artifact_files(result: TrainResult, source: str) -> dict[str, bytes]:
    """Every file of the model version (layout: `fraudlake.ml.artifact`), manifest included."""
    from fraudlake.ml.artifact import manifest, npz_bytes

    tables = {f"{kind}/{part}": arr for kind, parts in result.tables.items() for part, arr in parts.items()}
    decision = {
        "calibration": {
            "knots_x": result.calibration.knots_x.tolist(),
            "knots_y": result.calibration.knots_y.tolist(),
        },
        "thresholds": {k: t.__dict__ for k, t in result.thresholds.items()},
    }
    metrics = {
        "version": result.version,
        "source": source,
        **result.metrics,
        "feature_importance": dict(importance(result, 40)),
    }
    files = {
        "xgboost.json": bytes(result.booster.save_raw("json")),
        "xgboost_tabular.json": bytes(result.booster_tabular.save_raw("json")),
        "decision.json": _json(decision),
        "feature_spec.json": _json(result.spec),
        "gnn_weights.npz": npz_bytes(result.sage.to_arrays()),
        "embeddings.npz": npz_bytes(tables),
        "metrics.json": _json(metrics),
        "evaluation.json": _json(evaluation(result)),
        "model_card.md": model_card(result, source).encode(),
        "pr_curves.png": pr_curves_png(result),
        "feature_importance.png": importance_png(result),
    }
    headline = {
        "served_model": result.served,
        "test_auc_pr": result.metrics["test"][result.served]["auc_pr"],
        "test_auc_pr_graph": result.metrics["test"]["c_xgb_graph"]["auc_pr"],
        "test_auc_pr_tabular": result.metrics["test"]["b_xgb_tabular"]["auc_pr"],
        "test_auc_pr_rule": result.metrics["test"]["a_rule"]["auc_pr"],
        "data_end": result.metrics["periods"]["test"]["end"],
    }
    files["manifest.json"] = manifest(result.version, files, headline)
    return files


def _json(obj: Any) -> bytes:
    # NaN/inf (e.g. an unreachable decline threshold) are written as null: strict JSON for every reader.
    return json.dumps(_finite(obj), indent=2).encode()


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    return obj
