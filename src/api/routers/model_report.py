"""GET /v1/model/report: how the candidate models compared, why the served one won, what its thresholds do.

Everything comes from the served version's own files (metrics.json, decision.json, evaluation.json) and
its booster (feature importance): the numbers training computed, never recomputed here. A version
trained before evaluation.json existed has no PR curves and no threshold grid: those pieces are null
(the decision table keeps the review/decline rows, derived from metrics.json's test decisions) and
`notes` says so. The report of a version is built once, off the event loop, and kept while it serves.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Mapping
from typing import Any, cast

import anyio.to_thread
from fastapi import APIRouter

from fraudlake.api.deps import Model
from fraudlake.api.errors import ModelNotReadyError, UnauthorizedError, error_responses
from fraudlake.api.logs import current_request_id
from fraudlake.api.models import (
    BandThreshold,
    DecisionRow,
    EvaluationPeriod,
    FeatureImportance,
    GateVerdict,
    MetricValue,
    ModelReport,
    PrCurve,
    ServedChoice,
    VariantReport,
)
from fraudlake.scoring.bundle import ModelBundle

router = APIRouter(prefix="/v1/model", tags=["model"])

# The model variants training compares, in the report's order: (label, description).
VARIANTS: dict[str, tuple[str, str]] = {
    "a_rule": ("(a)", "rule: 10-min count ≥ 2 and amount above the user's average"),
    "b_xgb_tabular": ("(b)", "XGBoost, tabular features"),
    "b_plus_xgb_aggregates": ("(b+)", "XGBoost + graph aggregates (merchant fraud rates, CPP)"),
    "c_xgb_graph": ("(c)", "XGBoost + GraphSAGE embeddings and CPP exposures"),
}
# Test AUC-PR differences training computes: variant → the model it is compared with.
COMPARED_WITH = {
    "b_xgb_tabular": "a_rule",
    "b_plus_xgb_aggregates": "b_xgb_tabular",
    "c_xgb_graph": "b_xgb_tabular",
}
METRICS = ("auc_pr", "roc_auc", "recall_at_p90", "recall_at_p95")
TARGETS = {"review": "review_precision", "decline": "decline_precision"}
TOP_FEATURES = 25
SUPPORTED_EVALUATION_SCHEMA = 1
NO_EVALUATION = (
    "this version was trained before evaluation.json: it has no precision-recall curves and no"
    " threshold grid; the decision table shows the review and decline thresholds only"
)


@router.get(
    "/report",
    response_model=ModelReport,
    responses=error_responses(UnauthorizedError, ModelNotReadyError),
    summary="The served model's report: candidates compared, why it serves, what its thresholds do.",
)
async def model_report(model: Model) -> ModelReport:
    report = _cached(model)
    if report is None:
        report = await anyio.to_thread.run_sync(_build_cached, model)
    return report.model_copy(update={"request_id": current_request_id()})


_lock = threading.Lock()
# The served bundle (weakly: a replaced model is not kept alive) and its report; one version serves at a time.
_last: tuple[weakref.ref[ModelBundle], ModelReport] | None = None


def _cached(bundle: ModelBundle) -> ModelReport | None:
    last = _last
    return last[1] if last is not None and last[0]() is bundle else None


def _build_cached(bundle: ModelBundle) -> ModelReport:
    global _last
    with _lock:
        report = _cached(bundle)
        if report is None:
            report = build_report(bundle)
            _last = (weakref.ref(bundle), report)
        return report


def build_report(bundle: ModelBundle) -> ModelReport:
    """The report of a loaded version (`request_id` left empty: the route fills it in)."""
    model = bundle.model
    metrics: dict[str, Any] = model.metrics
    notes: list[str] = []
    evaluation = model.evaluation
    if evaluation is not None and evaluation.get("schema_version") != SUPPORTED_EVALUATION_SCHEMA:
        notes.append(
            f"evaluation.json has schema_version {evaluation.get('schema_version')}; this API reads"
            f" {SUPPORTED_EVALUATION_SCHEMA}: its curves and threshold grid are left out"
        )
        evaluation = None
    elif evaluation is None:
        notes.append(NO_EVALUATION)
    gate: dict[str, Any] = metrics.get("gate") or {}
    served_key = metrics.get("served_model")
    if not gate:
        notes.append("this version carries no gate verdict: why it serves is not recorded")
    periods = metrics.get("periods") or {}
    test = periods.get("test") or {}
    thresholds = _thresholds(model.threshold_details, metrics.get("targets") or {})
    table = _decision_table(evaluation, metrics, thresholds)
    if not table:
        notes.append("this version records no test decisions: the decision table is empty")
    return ModelReport(
        request_id="",
        served=ServedChoice(
            version=model.version,
            model=served_key if served_key in VARIANTS else None,
            label=VARIANTS[served_key][0] if served_key in VARIANTS else None,
            reason=gate.get("reason"),
            servable=gate.get("servable"),
            validation_fraud_cards=gate.get("validation_fraud_cards"),
        ),
        test_period=EvaluationPeriod(
            start=test.get("start"),
            end=test.get("end"),
            rows=test.get("rows"),
            frauds=test.get("frauds"),
            fraud_cards=metrics.get("test_fraud_cards"),
        ),
        variants=_variants(metrics, served_key, gate.get("candidates") or {}),
        pr_curves=_pr_curves(evaluation, metrics) if evaluation is not None else None,
        feature_importance=feature_importance(bundle),
        thresholds=thresholds,
        decision_table=table,
        evaluation_schema=evaluation.get("schema_version") if evaluation is not None else None,
        notes=notes,
    )


def _finite(value: Any) -> float | None:
    """A number for JSON: None for null, NaN or infinity (metrics.json stores NaN as null already)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _interval(values: Any) -> list[float] | None:
    if not values or len(values) != 2:
        return None
    low, high = _finite(values[0]), _finite(values[1])
    return None if low is None or high is None else [low, high]


def _variants(
    metrics: Mapping[str, Any], served_key: Any, candidates: Mapping[str, Any]
) -> list[VariantReport]:
    test: Mapping[str, Any] = metrics.get("test") or {}
    intervals: Mapping[str, Any] = metrics.get("test_auc_pr_ci95_by_card_bootstrap") or {}
    out = []
    for key, (label, description) in VARIANTS.items():
        if key not in test:
            continue
        other = COMPARED_WITH.get(key)
        verdict = candidates.get(key)
        out.append(
            VariantReport(
                key=cast(Any, key),
                label=label,
                description=description,
                served=key == served_key,
                metrics=[
                    MetricValue(
                        name=cast(Any, name),
                        value=_finite(test[key].get(name)),
                        ci95=_interval(intervals.get(key)) if name == "auc_pr" else None,
                    )
                    for name in METRICS
                ],
                auc_pr_difference_ci95=_interval(intervals.get(f"{key}-{other}")) if other else None,
                compared_with=cast(Any, other),
                gate=None
                if verdict is None
                else GateVerdict(
                    validation_auc_pr=_finite(verdict.get("auc_pr")),
                    difference_ci95=_interval(verdict.get("difference_ci95")),
                    review_working=bool(verdict.get("review_working")),
                    eligible=bool(verdict.get("eligible")),
                    note=str(verdict.get("note", "")),
                ),
            )
        )
    return out


def _pr_curves(evaluation: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[PrCurve]:
    test: Mapping[str, Any] = metrics.get("test") or {}
    curves: Mapping[str, Any] = evaluation.get("pr_curves") or {}
    return [
        PrCurve(
            variant=cast(Any, key),
            label=VARIANTS[key][0],
            auc_pr=_finite((test.get(key) or {}).get("auc_pr")),
            recall=[float(v) for v in curves[key]["recall"]],
            precision=[float(v) for v in curves[key]["precision"]],
        )
        for key in VARIANTS
        if key in curves
    ]


def feature_importance(bundle: ModelBundle, top: int = TOP_FEATURES) -> list[FeatureImportance]:
    """The served booster's top features by total gain, with average gain and share of all gain."""
    model = bundle.model
    booster = model.booster
    total = cast(dict[str, float], booster.get_score(importance_type="total_gain"))
    average = cast(dict[str, float], booster.get_score(importance_type="gain"))
    names = model.feature_names
    groups = {f["name"]: f.get("group", "") for f in model.spec.get("features", [])}

    def name_of(key: str) -> str:
        # A booster saved without feature names calls them f0, f1, …
        if key not in groups and key.startswith("f") and key[1:].isdigit() and int(key[1:]) < len(names):
            return names[int(key[1:])]
        return key

    all_gain = sum(total.values()) or 1.0
    ranked = sorted(total.items(), key=lambda kv: -kv[1])[:top]
    return [
        FeatureImportance(
            feature=name_of(key),
            description=model.descriptions.get(name_of(key), ""),
            group=groups.get(name_of(key), ""),
            total_gain=float(gain),
            gain=float(average.get(key, 0.0)),
            share=float(gain) / all_gain,
        )
        for key, gain in ranked
    ]


def _thresholds(details: Mapping[str, Any], targets: Mapping[str, Any]) -> list[BandThreshold]:
    out = []
    for band in ("review", "decline"):
        detail = details.get(band) or {}
        value = _finite(detail.get("value")) if detail.get("reachable", True) else None
        basis = detail.get("basis", "precision") if value is not None else None
        out.append(
            BandThreshold(
                band=cast(Any, band),
                value=value,
                basis=basis,
                target_precision=_finite(targets.get(TARGETS[band])),
                capacity=_finite(detail.get("capacity")),
                validation_precision=_finite(detail.get("precision")),
                validation_recall=_finite(detail.get("recall")),
            )
        )
    return out


def _row(threshold: float, bands: list[str], flagged: int, caught: int, frauds: int) -> DecisionRow:
    return DecisionRow(
        threshold=threshold,
        bands=cast(Any, bands),
        flagged=flagged,
        caught=caught,
        missed=frauds - caught,
        false_alarms=flagged - caught,
        precision=caught / flagged if flagged else None,
        recall=caught / frauds if frauds else None,
    )


def _decision_table(
    evaluation: Mapping[str, Any] | None, metrics: Mapping[str, Any], thresholds: list[BandThreshold]
) -> list[DecisionRow]:
    if evaluation is not None:
        frauds = int(evaluation["frauds"])
        return [
            _row(float(r["threshold"]), list(r.get("bands", [])), int(r["flagged"]), int(r["caught"]), frauds)
            for r in sorted(evaluation.get("decision_table") or [], key=lambda r: float(r["threshold"]))
        ]
    # An older version: metrics.json's test decisions give the review and decline rows exactly (each band
    # flags what scores at or above its threshold; decline ≥ review).
    decided: Mapping[str, Any] = metrics.get("test_decisions") or {}
    if not decided:
        return []
    frauds = sum(int(decided.get(d, {}).get("frauds", 0)) for d in ("approve", "review", "decline"))
    above = {"review": ("review", "decline"), "decline": ("decline",)}
    rows = []
    for band in thresholds:
        if band.value is None:
            continue
        flagged = sum(int(decided.get(d, {}).get("rows", 0)) for d in above[band.band])
        caught = sum(int(decided.get(d, {}).get("frauds", 0)) for d in above[band.band])
        rows.append(_row(band.value, [band.band], flagged, caught, frauds))
    # Both bands at one value (decline as strict as review) make one row.
    merged: dict[float, DecisionRow] = {}
    for row in sorted(rows, key=lambda r: r.threshold):
        if row.threshold in merged:
            merged[row.threshold].bands.extend(row.bands)
        else:
            merged[row.threshold] = row
    return list(merged.values())
