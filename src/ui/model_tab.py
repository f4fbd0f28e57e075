"""Model tab: the served model's report from GET /v1/model/report.

Which version serves and why the training gate chose it; the candidates (a) rule, (b) tabular XGBoost,
(b+) with graph aggregates and (c) with GraphSAGE compared on the test period (metrics with their
card-bootstrap intervals, precision-recall curves with the decision thresholds marked); the served
booster's top features; what each threshold does (frauds caught and missed, false alarms). Everything
is the API's: pieces an older model version does not carry are shown as the API's notes say.

Below, drift from GET /v1/model/drift: the latest `model_drift` report (PSI of each per-transaction
input and of the score against the training window, alert rate, precision of flagged cases).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from fraudlake.api.models import BandThreshold, DecisionRow, DriftReport, ModelReport, VariantReport
from fraudlake.ui import deps
from fraudlake.ui.client import DRIFT_UNAVAILABLE, ApiError, ClientError, EndpointMissingError
from fraudlake.ui.theme import DECISION_COLORS, PRIMARY, call_api, show_error

# One color per candidate, the same in every chart; the served model is drawn bolder.
VARIANT_COLORS = {"(a)": "#9AA5B1", "(b)": PRIMARY, "(b+)": "#2A9D8F", "(c)": "#E07A1F"}
METRIC_LABELS = {
    "auc_pr": "AUC-PR",
    "roc_auc": "ROC-AUC",
    "recall_at_p90": "Recall @ P90",
    "recall_at_p95": "Recall @ P95",
}
BAND_LABELS = {"review": "Review", "decline": "Decline"}
OUTCOME_COLORS = {"Caught": "#2E7D32", "Missed": "#F9A825", "False alarms": "#C62828"}
CHART_HEIGHT = 320
DRIFT_LEVELS = {"ok": "Stable", "warn": "Watch", "drifting": "Drifting", "insufficient": "Too few rows"}


def _variant_scale() -> alt.Scale:
    return alt.Scale(domain=list(VARIANT_COLORS), range=list(VARIANT_COLORS.values()))


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _interval(ci: list[float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _with_interval(value: float | None, ci: list[float] | None) -> str:
    return f"{_number(value)} {_interval(ci)}".strip()


def _bands(row: DecisionRow) -> str:
    return ", ".join(BAND_LABELS[b] for b in row.bands)


def metrics_frame(report: ModelReport) -> pd.DataFrame:
    """One row per candidate: test metrics (with intervals), the comparison, the gate's verdict."""
    rows = []
    for v in report.variants:
        values = {m.name: m for m in v.metrics}
        compared = next((x.label for x in report.variants if x.key == v.compared_with), None)
        rows.append(
            {
                "Model": f"{v.label} · served" if v.served else v.label,
                **{
                    METRIC_LABELS[name]: _with_interval(m.value, m.ci95)
                    if name == "auc_pr"
                    else _number(m.value)
                    for name, m in values.items()
                },
                "AUC-PR difference [95%]": f"vs {compared} {_interval(v.auc_pr_difference_ci95)}"
                if compared and v.auc_pr_difference_ci95
                else "",
                "Validation AUC-PR": _number(v.gate.validation_auc_pr) if v.gate else "",
                "Gate": _gate_text(v),
            }
        )
    return pd.DataFrame(rows)


def _gate_text(variant: VariantReport) -> str:
    if variant.gate is None:
        return "baseline (not a candidate)"
    return variant.gate.note


def metric_bars_frame(report: ModelReport) -> pd.DataFrame:
    """Long form for the metric bars: variant, metric, value, interval (when training computed one)."""
    return pd.DataFrame(
        [
            {
                "variant": v.label,
                "model": v.description,
                "served": v.served,
                "metric": METRIC_LABELS[m.name],
                "value": m.value,
                "ci_low": m.ci95[0] if m.ci95 else None,
                "ci_high": m.ci95[1] if m.ci95 else None,
            }
            for v in report.variants
            for m in v.metrics
            if m.value is not None
        ]
    )


def metric_bars_chart(data: pd.DataFrame) -> alt.LayerChart:
    x = alt.X(
        "metric:N",
        title=None,
        sort=list(METRIC_LABELS.values()),
        axis=alt.Axis(labelAngle=0, labelOverlap=False, labelLimit=0),
    )
    offset = alt.XOffset("variant:N", sort=list(VARIANT_COLORS))
    bars = (
        alt.Chart(data)
        .mark_bar(cornerRadiusEnd=2)
        .encode(
            x=x,
            xOffset=offset,
            y=alt.Y("value:Q", title="Test period", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("variant:N", scale=_variant_scale(), title="Model"),
            opacity=alt.condition("datum.served", alt.value(1.0), alt.value(0.55)),
            tooltip=[
                "variant:N",
                "model:N",
                "metric:N",
                alt.Tooltip("value:Q", format=".3f"),
                alt.Tooltip("ci_low:Q", format=".3f", title="95% low"),
                alt.Tooltip("ci_high:Q", format=".3f", title="95% high"),
            ],
        )
    )
    intervals = alt.Chart(data).transform_filter("isValid(datum.ci_low)")
    rules = intervals.mark_rule(color="#1B1F24", strokeWidth=1.5).encode(
        x=x, xOffset=offset, y="ci_low:Q", y2="ci_high:Q"
    )
    caps = [
        intervals.mark_tick(color="#1B1F24", thickness=1.5, size=8).encode(x=x, xOffset=offset, y=f"{end}:Q")
        for end in ("ci_low", "ci_high")
    ]
    return alt.LayerChart(layer=[bars, rules, *caps]).properties(height=CHART_HEIGHT)


def pr_frame(report: ModelReport) -> pd.DataFrame:
    served = {v.key: v.served for v in report.variants}
    return pd.DataFrame(
        [
            {
                "variant": c.label,
                "curve": f"{c.label} AUC-PR {_number(c.auc_pr)}",
                "served": served.get(c.variant, False),
                "recall": r,
                "precision": p,
            }
            for c in report.pr_curves or []
            for r, p in zip(c.recall, c.precision, strict=True)
        ]
    )


def operating_points(report: ModelReport) -> pd.DataFrame:
    """The served model's review and decline thresholds as (recall, precision) on the test period."""
    return pd.DataFrame(
        [
            {
                "band": _bands(row),
                "label": f"{_bands(row)} ≥ {row.threshold:.3f}",
                "threshold": row.threshold,
                "recall": row.recall,
                "precision": row.precision,
                "caught": row.caught,
                "false_alarms": row.false_alarms,
            }
            for row in report.decision_table
            if row.bands and row.recall is not None and row.precision is not None
        ],
        columns=["band", "label", "threshold", "recall", "precision", "caught", "false_alarms"],
    )


def pr_chart(curves: pd.DataFrame, points: pd.DataFrame, fraud_rate: float | None) -> alt.LayerChart:
    lines = (
        alt.Chart(curves)
        .mark_line(interpolate="step-before")
        .encode(
            x=alt.X("recall:Q", title="Recall (share of frauds caught)", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("precision:Q", title="Precision", scale=alt.Scale(domain=[0, 1.02])),
            color=alt.Color("variant:N", scale=_variant_scale(), title="Model"),
            strokeWidth=alt.condition("datum.served", alt.value(3.2), alt.value(1.6)),
            detail="curve:N",
            tooltip=[
                "curve:N",
                alt.Tooltip("recall:Q", format=".3f"),
                alt.Tooltip("precision:Q", format=".3f"),
            ],
        )
    )
    layers: list[alt.Chart] = [lines]
    if fraud_rate is not None:
        layers.append(
            alt.Chart(pd.DataFrame({"precision": [fraud_rate]}))
            .mark_rule(color="#9AA5B1", strokeDash=[3, 3])
            .encode(y="precision:Q", tooltip=[alt.Tooltip("precision:Q", format=".4f", title="fraud rate")])
        )
    if not points.empty:
        bands = alt.Fill(
            "band:N",
            legend=None,  # each diamond is labelled
            scale=alt.Scale(
                domain=["Review", "Decline", "Review, Decline"],
                range=[DECISION_COLORS["review"], DECISION_COLORS["decline"], DECISION_COLORS["decline"]],
            ),
        )
        marks = alt.Chart(points).encode(x="recall:Q", y="precision:Q")
        layers.append(
            marks.mark_point(shape="diamond", size=160, filled=True, stroke="#1B1F24", strokeWidth=1).encode(
                fill=bands,
                tooltip=[
                    "label:N",
                    alt.Tooltip("recall:Q", format=".3f"),
                    alt.Tooltip("precision:Q", format=".3f"),
                    alt.Tooltip("caught:Q", title="frauds caught"),
                    alt.Tooltip("false_alarms:Q", title="false alarms"),
                ],
            )
        )
        layers.append(
            marks.mark_text(align="left", dx=9, dy=-9, fontSize=12, fontWeight="bold").encode(text="label:N")
        )
    return alt.LayerChart(layer=layers).resolve_scale(color="independent").properties(height=CHART_HEIGHT)


def importance_frame(report: ModelReport) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "feature": f.feature,
                "description": f.description,
                "kind": "graph" if f.group == "graph" else "tabular",
                "share": f.share,
                "total_gain": f.total_gain,
                "gain": f.gain,
            }
            for f in report.feature_importance
        ],
        columns=["feature", "description", "kind", "share", "total_gain", "gain"],
    )


def importance_chart(data: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(data)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("share:Q", title="Share of the booster's total gain", axis=alt.Axis(format="%")),
            y=alt.Y("feature:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
            color=alt.Color(
                "kind:N", scale=alt.Scale(domain=["tabular", "graph"], range=[PRIMARY, "#E07A1F"]), title=None
            ),
            tooltip=[
                "feature:N",
                "description:N",
                alt.Tooltip("share:Q", format=".1%"),
                alt.Tooltip("total_gain:Q", format=",.1f", title="total gain"),
                alt.Tooltip("gain:Q", format=",.2f", title="average gain"),
            ],
        )
        .properties(height=max(18 * len(data), 120))
    )


def decision_frame(report: ModelReport) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Threshold": row.threshold,
                "Band": _bands(row),
                "Flagged": row.flagged,
                "Caught": row.caught,
                "Missed": row.missed,
                "False alarms": row.false_alarms,
                "Precision": row.precision,
                "Recall": row.recall,
            }
            for row in report.decision_table
        ],
        columns=["Threshold", "Band", "Flagged", "Caught", "Missed", "False alarms", "Precision", "Recall"],
    )


def tradeoff_chart(table: pd.DataFrame) -> alt.LayerChart:
    """Caught, missed and false alarms by threshold, the review/decline thresholds as rules."""
    long = table.melt(
        id_vars=["Threshold"], value_vars=list(OUTCOME_COLORS), var_name="outcome", value_name="transactions"
    )
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "Threshold:Q",
                title="Threshold (calibrated fraud probability)",
                scale=alt.Scale(domain=[0, 1]),
            ),
            y=alt.Y("transactions:Q", title="Transactions (symlog)", scale=alt.Scale(type="symlog")),
            color=alt.Color(
                "outcome:N",
                scale=alt.Scale(domain=list(OUTCOME_COLORS), range=list(OUTCOME_COLORS.values())),
                title=None,
            ),
            tooltip=[alt.Tooltip("Threshold:Q", format=".3f"), "outcome:N", "transactions:Q"],
        )
    )
    bands = table[table["Band"] != ""]
    rules = (
        alt.Chart(bands)
        .mark_rule(strokeDash=[4, 3], color="#1B1F24")
        .encode(x="Threshold:Q", tooltip=["Band:N", alt.Tooltip("Threshold:Q", format=".3f")])
    )
    labels = (
        alt.Chart(bands)
        .mark_text(align="left", dx=4, y=8, fontSize=11)
        .encode(x="Threshold:Q", text="Band:N")
    )
    return alt.LayerChart(layer=[lines, rules, labels]).properties(height=CHART_HEIGHT)


def render() -> None:
    report = call_api(deps.get_client().model_report)
    if report is None:
        return
    _served(report)
    for note in report.notes:
        st.info(note, icon=":material/info:")
    st.markdown("#### How the candidates compare (test period)")
    curves_col, bars_col = st.columns(2, gap="large")
    with curves_col:
        st.markdown("**Precision-recall curves**")
        if report.pr_curves is None:
            st.caption("This model version carries no precision-recall curves (see the note above).")
        else:
            period = report.test_period
            rate = period.frauds / period.rows if period.frauds is not None and period.rows else None
            st.altair_chart(pr_chart(pr_frame(report), operating_points(report), rate), width="stretch")
            st.caption("Diamonds: the served model's review and decline thresholds. Dotted: the fraud rate.")
    with bars_col:
        st.markdown("**Metrics with 95% intervals**")
        st.altair_chart(metric_bars_chart(metric_bars_frame(report)), width="stretch")
        st.caption("Error bars: 95% card-bootstrap intervals (training computes them for AUC-PR).")
    st.dataframe(metrics_frame(report), hide_index=True, width="stretch")
    st.caption(
        " · ".join(f"{v.label} {v.description}" for v in report.variants)
        + ". Recall @ P90 / P95: recall at 90% / 95% precision. Gate: the verdict on the validation period."
    )
    st.divider()
    table = decision_frame(report)
    importance_col, decisions_col = st.columns(2, gap="large")
    with importance_col:
        st.markdown("#### Feature importance")
        st.caption(f"The served booster's top {len(report.feature_importance)} features by total gain.")
        st.altair_chart(importance_chart(importance_frame(report)), width="stretch")
    with decisions_col:
        st.markdown("#### Decision thresholds")
        for band in report.thresholds:
            st.markdown(f"- {_threshold_sentence(band)}")
        if table.empty:
            st.caption("No decision table in this model version.")
        else:
            st.altair_chart(tradeoff_chart(table), width="stretch")
    if not table.empty:
        st.markdown("#### Decision table (test period)")
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            height=35 * (len(table) + 1) + 3,  # every row, no scrolling
            column_config={
                "Threshold": st.column_config.NumberColumn(format="%.3f"),
                "Precision": st.column_config.NumberColumn(format="%.3f"),
                "Recall": st.column_config.NumberColumn(format="%.3f"),
            },
        )
        st.caption(
            "At each threshold on the served model's calibrated probability: flagged = scored at or above"
            " it; caught / missed = frauds at or above / below it; false alarms = legitimate transactions"
            " flagged."
        )
    _drift()


def drift_frame(report: DriftReport) -> pd.DataFrame:
    """One row per monitored column, the drifting ones first (worst first), then by name."""
    rows = [
        {
            "Feature": f.feature,
            "PSI": f.psi,
            "Level": DRIFT_LEVELS.get(f.level, f.level),
            "Training rows": f.reference_rows,
            "Recent rows": f.recent_rows,
        }
        for f in report.features
    ]
    frame = pd.DataFrame(rows, columns=["Feature", "PSI", "Level", "Training rows", "Recent rows"])
    return frame.sort_values(["PSI", "Feature"], ascending=[False, True], na_position="last").reset_index(
        drop=True
    )


def _drift() -> None:
    st.divider()
    st.markdown("#### Drift against the training window")
    try:
        report = deps.get_client().model_drift()
    except EndpointMissingError:
        st.caption("This API does not offer drift reports (/v1/model/drift).")
        return
    except ApiError as exc:
        if exc.code != DRIFT_UNAVAILABLE:
            show_error(exc)
            return
        st.caption(f"No drift reports: {exc.message}")
        return
    except ClientError as exc:
        show_error(exc)
        return
    if report is None:
        st.caption("No drift report yet: the model_drift DAG writes one every hour.")
        return
    if report.healthy:
        st.success(f"No input drifting against model `{report.model_version}`'s training window.")
    else:
        st.warning(f"Drifting: **{', '.join(report.drifting)}**", icon=":material/warning:")
    rate_col, precision_col = st.columns(2)
    rate_col.metric("Alert rate (review or decline)", _share(report.alert_rate))
    precision_col.metric(
        "Precision of flagged cases", _share(report.flagged_precision), help=_precision_help(report)
    )
    st.dataframe(
        drift_frame(report),
        hide_index=True,
        width="stretch",
        column_config={"PSI": st.column_config.NumberColumn(format="%.3f")},
    )
    st.caption(
        f"Population stability index of {report.recent_start[:16]} – {report.recent_end[:16]} against the"
        f" training window {report.reference_start[:10]} – {report.reference_end[:10]}, ten bins cut at the"
        " training window's quantiles: below 0.1 stable, 0.1–0.2 watch, 0.2 and above drifting."
    )


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _precision_help(report: DriftReport) -> str:
    return (
        f"Frauds among {report.flagged_labelled} flagged decisions one label delay before the recent"
        " window: their chargebacks have had time to arrive."
    )


def _served(report: ModelReport) -> None:
    served = report.served
    variant = next((v for v in report.variants if v.served), None)
    name = (
        f"{served.label} {variant.description}" if variant and served.label else (served.model or "unknown")
    )
    st.markdown(f"#### Served model `{served.version}`")
    st.markdown(f"**{name}**")
    if served.reason:
        icon = ":material/verified:" if served.servable else ":material/warning:"
        st.success(f"**Why it won:** {served.reason}", icon=icon)
    period = report.test_period
    if period.rows is not None:
        frauds = f"{period.frauds} frauds" if period.frauds is not None else "frauds unknown"
        cards = f" on {period.fraud_cards} cards" if period.fraud_cards is not None else ""
        when = f", {period.start[:10]} to {period.end[:10]}" if period.start and period.end else ""
        st.caption(
            f"Test period: {period.rows:,} transactions, {frauds}{cards}{when}. The gate chose on the"
            f" validation period ({served.validation_fraud_cards} defrauded cards); the test period is only"
            " reported."
        )


def _threshold_sentence(band: BandThreshold) -> str:
    label = BAND_LABELS[band.band]
    if band.value is None:
        target = f" {band.target_precision:.0%}" if band.target_precision is not None else ""
        return f"**{label}** is off: no threshold reached its target precision{target} on validation."
    if band.basis == "capacity" and band.capacity is not None:
        why = f"a capacity queue (the top {band.capacity:.2%} of scores)"
    else:
        target = f"{band.target_precision:.0%}" if band.target_precision is not None else "its target"
        why = f"target precision {target}"
    on_valid = (
        f"; on validation precision {_number(band.validation_precision, 2)}, recall"
        f" {_number(band.validation_recall, 2)}"
    )
    return f"**{label}** at ≥ {band.value:.3f} — {why}{on_valid}."
