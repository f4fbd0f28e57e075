"""Live tab: recent alerts (auto-refresh), fraud rate over time, top merchants and MCCs, SQL playground;
throughput, consumer lag and alert rate from Prometheus.

The data goes through the API's guarded read-only SQL endpoint; when this API does not offer it, the
tab says so (from the 404) instead of showing anything made up. The metrics charts read Prometheus'
HTTP API (FRAUDLAKE_PROMETHEUS_URL); unset or unreachable, they say that instead.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from fraudlake.api.models import SqlResponse
from fraudlake.ui import deps
from fraudlake.ui.client import ClientError, EndpointMissingError
from fraudlake.ui.prometheus import LIVE_CHARTS, PROMETHEUS_URL_ENV, PrometheusError
from fraudlake.ui.theme import PRIMARY, RAISES_COLOR, call_api, show_error

REFRESH_SECONDS = 15
METRICS_MINUTES = 15
# Periods are relative to the latest transaction loaded, so replayed history shows too.
RECENT_ALERTS_SQL = """SELECT alert_id, event_ts, card_id, merchant_id, round(score, 3) AS score,
       severity, status, message
FROM alerts FINAL ORDER BY event_ts DESC LIMIT 50"""
FRAUD_RATE_SQL = """SELECT toStartOfHour(event_ts) AS hour, count() AS transactions,
       countIf(is_fraud = 1) AS frauds, frauds / transactions AS fraud_rate
FROM transactions FINAL
WHERE event_ts > (SELECT max(event_ts) FROM transactions) - INTERVAL 7 DAY
GROUP BY hour ORDER BY hour"""
# Merchant ids are 19-digit hashes: the chart labels them by place and the id's last digits.
TOP_MERCHANTS_SQL = """SELECT toString(merchant_id) AS merchant, any(merchant_city) AS city,
       any(merchant_state) AS state, countIf(is_fraud = 1) AS frauds, count() AS transactions
FROM transactions FINAL GROUP BY merchant HAVING frauds > 0 ORDER BY frauds DESC LIMIT 10"""
TOP_MCCS_SQL = """SELECT toString(mcc) AS mcc, countIf(is_fraud = 1) AS frauds, count() AS transactions
FROM transactions FINAL GROUP BY mcc HAVING frauds > 0 ORDER BY frauds DESC LIMIT 10"""
PLAYGROUND_DEFAULT = (
    "SELECT severity, count() AS alerts FROM alerts FINAL GROUP BY severity ORDER BY alerts DESC"
)


def frame(table: SqlResponse) -> pd.DataFrame:
    return pd.DataFrame(table.rows, columns=table.columns)


def render() -> None:
    sql = _sql_endpoint_available()
    auto = st.toggle(f"Auto-refresh every {REFRESH_SECONDS} s", value=True, key="live_auto_refresh")
    run_every = REFRESH_SECONDS if auto else None
    if sql:
        _live_panels(run_every)
    _metrics_panels(run_every)
    if sql:
        st.divider()
        _playground()


def _sql_endpoint_available() -> bool:
    """Probe the SQL endpoint once per session; say why when it is missing or failing."""
    if st.session_state.get("live_sql_available"):
        return True
    try:
        deps.get_client().sql("SELECT 1")
    except EndpointMissingError:
        st.info(
            "Live data is not available from this API: it does not offer the read-only SQL endpoint "
            "(the request answered 404 Not Found).",
            icon=":material/block:",
        )
        return False
    except ClientError as exc:
        show_error(exc)
        return False
    st.session_state["live_sql_available"] = True
    return True


def _live_panels(run_every: int | None) -> None:
    @st.fragment(run_every=run_every)
    def panels() -> None:
        client = deps.get_client()
        st.markdown("#### Recent alerts")
        alerts = call_api(client.sql, RECENT_ALERTS_SQL)
        if alerts is not None:
            st.dataframe(
                frame(alerts),
                hide_index=True,
                width="stretch",
                height=260,
                column_config={
                    "score": st.column_config.ProgressColumn("score", min_value=0, max_value=1, format="%.3f")
                },
            )
        rate_col, top_col = st.columns(2, gap="large")
        with rate_col:
            st.markdown("#### Fraud rate, last 7 days")
            rate = call_api(client.sql, FRAUD_RATE_SQL)
            if rate is not None:
                st.altair_chart(fraud_rate_chart(frame(rate)), width="stretch")
        with top_col:
            by_merchant, by_mcc = st.tabs(["Top merchants", "Top MCCs"])
            with by_merchant:
                top = call_api(client.sql, TOP_MERCHANTS_SQL)
                if top is not None:
                    st.altair_chart(top_chart(with_merchant_labels(frame(top)), "merchant"), width="stretch")
            with by_mcc:
                top = call_api(client.sql, TOP_MCCS_SQL)
                if top is not None:
                    st.altair_chart(top_chart(frame(top), "mcc"), width="stretch")

    panels()


def _metrics_panels(run_every: int | None) -> None:
    @st.fragment(run_every=run_every)
    def panels() -> None:
        st.markdown(f"#### Throughput, lag and alert rate · Prometheus, last {METRICS_MINUTES} min")
        source = deps.get_prometheus()
        if source is None:
            st.info(
                f"No Prometheus is configured: set {PROMETHEUS_URL_ENV} to its address "
                "(the local demo sets it to the stack's Prometheus).",
                icon=":material/monitoring:",
            )
            return
        try:
            frames = [source.chart_frame(chart, METRICS_MINUTES) for chart in LIVE_CHARTS]
        except PrometheusError as exc:
            st.warning(str(exc), icon=":material/cloud_off:")
            return
        for column, chart, data in zip(
            st.columns(len(LIVE_CHARTS), gap="large"), LIVE_CHARTS, frames, strict=True
        ):
            with column:
                st.markdown(f"**{chart.title}** ({chart.unit})")
                if data.empty:
                    st.caption("No samples in this window yet: nothing running has reported it.")
                else:
                    st.altair_chart(metric_chart(data, chart.unit), width="stretch")

    panels()


def metric_chart(data: pd.DataFrame, unit: str) -> alt.Chart:
    """Lines over time, one per series (time, value, series)."""
    return (
        alt.Chart(data)
        .mark_line(interpolate="monotone")
        .encode(
            x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M")),
            y=alt.Y("value:Q", title=unit),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=["series:N", "time:T", alt.Tooltip("value:Q", format=",.2f")],
        )
        .properties(height=200)
    )


def fraud_rate_chart(data: pd.DataFrame) -> alt.Chart:
    return (
        alt.Chart(data)
        .mark_area(
            line={"color": RAISES_COLOR},
            color=alt.Gradient(
                gradient="linear",
                stops=[
                    alt.GradientStop(color="#FFFFFF", offset=0),
                    alt.GradientStop(color=RAISES_COLOR, offset=1),
                ],
                x1=1,
                x2=1,
                y1=1,
                y2=0,
            ),
        )
        .encode(
            x=alt.X("hour:T", title=None),
            y=alt.Y("fraud_rate:Q", title="Fraud rate", axis=alt.Axis(format="%")),
            tooltip=["hour:T", "transactions:Q", "frauds:Q", alt.Tooltip("fraud_rate:Q", format=".2%")],
        )
        .properties(height=260)
    )


def merchant_label(merchant: str, city: str, state: str) -> str:
    """`Monterey Park, CA · …621833`: where the merchant is, and enough of its id to tell two apart."""
    place = ", ".join(part for part in (city, state) if part)
    return f"{place} · …{merchant[-6:]}" if place else merchant


def with_merchant_labels(data: pd.DataFrame) -> pd.DataFrame:
    """`data` with a `label` column per merchant (online merchants have no state: NULL)."""

    def text(value: object) -> str:
        return "" if value is None or pd.isna(value) else str(value)

    labels = [
        merchant_label(text(m), text(c), text(s))
        for m, c, s in zip(data["merchant"], data["city"], data["state"], strict=True)
    ]
    return data.assign(label=labels)


def top_chart(data: pd.DataFrame, column: str) -> alt.Chart:
    """Frauds per `column` value as horizontal bars, every bar labelled (by `label` when present)."""
    shown = "label" if "label" in data.columns else column
    return (
        alt.Chart(data)
        .mark_bar(color=PRIMARY, cornerRadiusEnd=3)
        .encode(
            x=alt.X("frauds:Q", title="Frauds", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{shown}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240, labelOverlap=False)),
            tooltip=[f"{column}:N", "frauds:Q", "transactions:Q"],
        )
        .properties(height=260)
    )


def _playground() -> None:
    st.markdown("#### SQL playground")
    st.caption("One read-only SELECT, run by the API's guard (row and time limits apply).")
    query = st.text_area(
        "Query", value=PLAYGROUND_DEFAULT, height=110, key="live_sql", label_visibility="collapsed"
    )
    if st.button("Run query", icon=":material/play_arrow:", key="live_sql_run"):
        result = call_api(deps.get_client().sql, query)
        if result is not None:
            st.dataframe(frame(result), hide_index=True, width="stretch")
            if result.truncated:
                st.caption("The result reached the row limit: more rows may exist.")
