"""Score tab: a transaction form, then the score gauge, decision, top reasons and rules fired."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from fraudlake.api.models import ScoreResponse
from fraudlake.ui import deps
from fraudlake.ui.theme import (
    DECISION_COLORS,
    LOWERS_COLOR,
    RAISES_COLOR,
    call_api,
    decision_badge,
)

USE_CHIP = ["Chip Transaction", "Swipe Transaction", "Online Transaction"]
RESULT_KEY = "score_result"

# (mcc, label, typical amount range, in-store city/state/zip) for realistic random transactions.
MERCHANT_KINDS: list[tuple[int, str, tuple[float, float], tuple[str, str, str]]] = [
    (5411, "Grocery", (8.0, 180.0), ("La Verne", "CA", "91750")),
    (5812, "Restaurant", (12.0, 95.0), ("Austin", "TX", "78701")),
    (5541, "Gas station", (20.0, 90.0), ("Columbus", "OH", "43215")),
    (5311, "Department store", (25.0, 900.0), ("Seattle", "WA", "98101")),
    (5912, "Pharmacy", (5.0, 120.0), ("Miami", "FL", "33130")),
    (4829, "Money transfer", (50.0, 2500.0), ("Newark", "NJ", "07102")),
    (5732, "Electronics", (60.0, 2200.0), ("San Jose", "CA", "95113")),
]

DEFAULTS: dict[str, Any] = {
    "score_user_id": "1321",
    "score_card_id": "1321-2",
    "score_merchant_id": "4722913068560264812",
    "score_amount": 812.40,
    "score_use_chip": "Online Transaction",
    "score_mcc": 5311,
    "score_merchant_city": "ONLINE",
    "score_merchant_state": "",
    "score_zip": "",
    "score_errors": "",
    "score_date": date(2019, 3, 14),
    "score_time": time(18, 52),
}


def random_transaction(rng: random.Random | None = None) -> dict[str, Any]:
    """Form values of a plausible transaction: a known MCC, an amount typical of it, a real place."""
    rng = rng or random.Random()  # noqa: S311 - sample data, not secrets
    mcc, _, (low, high), (city, state, zip_code) = rng.choice(MERCHANT_KINDS)
    online = rng.random() < 0.25
    user = rng.randint(0, 1999)
    return {
        "score_user_id": str(user),
        "score_card_id": f"{user}-{rng.randint(0, 4)}",
        "score_merchant_id": str(rng.randint(10**17, 9 * 10**18)),
        "score_amount": round(rng.uniform(low, high), 2),
        "score_use_chip": "Online Transaction" if online else rng.choice(USE_CHIP[:2]),
        "score_mcc": mcc,
        "score_merchant_city": "ONLINE" if online else city,
        "score_merchant_state": "" if online else state,
        "score_zip": "" if online else zip_code,
        "score_errors": "Insufficient Balance" if rng.random() < 0.03 else "",
        "score_date": date(2019, rng.randint(1, 12), rng.randint(1, 28)),
        "score_time": time(rng.randint(0, 23), rng.randint(0, 59)),
    }


def _fill_random() -> None:
    st.session_state.update(random_transaction())
    st.session_state.pop(RESULT_KEY, None)


def transaction_from_form(values: dict[str, Any]) -> dict[str, Any]:
    """The POST /v1/score body for the form values (empty optional fields are sent as null)."""
    event_ts = datetime.combine(values["score_date"], values["score_time"], tzinfo=UTC)
    return {
        "txn_id": uuid.uuid4().hex,
        "event_ts": event_ts.isoformat().replace("+00:00", "Z"),
        "user_id": values["score_user_id"].strip(),
        "card_id": values["score_card_id"].strip(),
        "merchant_id": values["score_merchant_id"].strip(),
        "amount": float(values["score_amount"]),
        "use_chip": values["score_use_chip"],
        "mcc": int(values["score_mcc"]),
        "merchant_city": values["score_merchant_city"].strip() or None,
        "merchant_state": values["score_merchant_state"].strip() or None,
        "zip": values["score_zip"].strip() or None,
        "errors": values["score_errors"].strip() or None,
    }


def render() -> None:
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    form_col, result_col = st.columns([5, 6], gap="large")
    with form_col:
        _form()
    with result_col:
        result = st.session_state.get(RESULT_KEY)
        if result is None:
            st.markdown("#### Result")
            st.caption("Fill in a transaction and press **Score** to see its fraud probability and why.")
        else:
            render_result(result)


def _form() -> None:
    header, button = st.columns([3, 2], vertical_alignment="bottom")
    header.markdown("#### Transaction")
    button.button("Random transaction", icon=":material/casino:", on_click=_fill_random, key="score_random")
    with st.form("score_form", border=True):
        left, right = st.columns(2)
        left.number_input(
            "Amount (USD)", min_value=-1e7, max_value=1e7, step=1.0, format="%.2f", key="score_amount"
        )
        right.selectbox("Channel", USE_CHIP, key="score_use_chip")
        left.number_input("Merchant category (MCC)", min_value=0, max_value=9999, step=1, key="score_mcc")
        right.text_input("Merchant id", key="score_merchant_id")
        left.text_input("Merchant city", key="score_merchant_city")
        right.text_input("Merchant state", key="score_merchant_state")
        left.text_input("ZIP", key="score_zip", placeholder="5 digits, empty online")
        right.text_input("Errors", key="score_errors", placeholder="e.g. Bad PIN")
        left.text_input("User id", key="score_user_id")
        right.text_input("Card id", key="score_card_id")
        left.date_input("Date (UTC)", key="score_date")
        right.time_input("Time (UTC)", key="score_time", step=60)
        submitted = st.form_submit_button("Score", type="primary", icon=":material/bolt:", width="stretch")
    # ?score=example (a shareable link, used by the browser test) scores the defaults once.
    deep_link = st.query_params.get("score") == "example" and RESULT_KEY not in st.session_state
    if submitted or deep_link:
        values = {key: st.session_state[key] for key in DEFAULTS}
        result = call_api(deps.get_client().score, transaction_from_form(values))
        st.session_state[RESULT_KEY] = result


def render_result(result: ScoreResponse) -> None:
    """Gauge, decision, top reasons chart and the rules that fired."""
    st.markdown("#### Result")
    gauge_col, facts_col = st.columns([2, 3], vertical_alignment="center")
    with gauge_col:
        st.altair_chart(score_gauge(result.score, result.decision), width="stretch")
    with facts_col:
        decision_badge(result.decision)
        st.metric("Fraud probability", f"{result.score:.1%}")
        st.caption(f"Transaction `{result.txn_id}` · model `{result.model_version}`")
    st.markdown("##### Top reasons")
    if result.reasons:
        # An explicit height: with "content" the bars of a stretched chart collapse to a sliver.
        st.altair_chart(reasons_chart(result), width="stretch", height=80 + 34 * len(result.reasons))
    else:
        st.caption("The API returned no reasons for this transaction.")
    st.markdown("##### Rules fired")
    if not result.rules_fired:
        st.caption("No window rule fired.")
    for hit in result.rules_fired:
        st.warning(f"**{hit.rule}** ({hit.type}) — {hit.message}", icon=":material/rule:")


def score_gauge(score: float, decision: str) -> alt.LayerChart | alt.FacetChart:
    """A donut showing the probability, colored by the decision, with the percentage in the middle."""
    color = DECISION_COLORS.get(decision, "#607D8B")
    data = pd.DataFrame({"part": ["score", "rest"], "value": [score, 1 - score], "order": [0, 1]})
    arc = (
        alt.Chart(data)
        .mark_arc(innerRadius=62, outerRadius=85, cornerRadius=4)
        .encode(
            theta=alt.Theta("value:Q", stack=True),
            order=alt.Order("order:Q"),
            color=alt.Color(
                "part:N", scale=alt.Scale(domain=["score", "rest"], range=[color, "#E6EAF0"]), legend=None
            ),
            tooltip=[alt.Tooltip("value:Q", format=".1%")],
        )
    )
    center = (
        alt.Chart(pd.DataFrame({"line": [f"{score:.0%}"]}))
        .mark_text(fontWeight="bold", color=color, fontSize=28)
        .encode(text="line:N")
    )
    return alt.layer(arc, center).properties(height=190, width=190)


def reasons_chart(result: ScoreResponse) -> alt.Chart:
    """Horizontal bars of the top contributions: red raises the fraud odds, green lowers them."""
    rows = [
        {
            "reason": r.description or r.feature,
            "feature": r.feature,
            "value": r.value,
            "contribution": r.contribution,
            "effect": "raises risk" if r.contribution > 0 else "lowers risk",
        }
        for r in result.reasons
    ]
    data = pd.DataFrame(rows)
    return (
        alt.Chart(data)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("contribution:Q", title="Contribution to fraud log-odds"),
            y=alt.Y("reason:N", sort=alt.SortField("contribution", order="descending"), title=None),
            color=alt.Color(
                "effect:N",
                scale=alt.Scale(domain=["raises risk", "lowers risk"], range=[RAISES_COLOR, LOWERS_COLOR]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=[
                "feature:N",
                "reason:N",
                alt.Tooltip("value:Q", format=",.2f"),
                alt.Tooltip("contribution:Q", format="+.3f"),
            ],
        )
        .properties(height=34 * len(rows))
    )
