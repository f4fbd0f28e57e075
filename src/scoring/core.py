"""The scoring hot path: transaction → online features (+ graph columns) → calibrated score → decision,
reasons and fired rules. numpy and XGBoost only; no pandas, no torch.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from fraudlake.ml.features import EVENT_MS, EVENT_TS, FEATURE_NAMES, INPUT_FIELDS, TXN_ID
from fraudlake.scoring.bundle import ModelBundle, ReasonPolicy
from fraudlake.scoring.card_status import CardStatusBook
from fraudlake.scoring.models import Decision, Reason, ScoreResult, TransactionIn
from fraudlake.scoring.state import ServingState

_N_TABULAR = len(FEATURE_NAMES)
_INPUTS_AS_GIVEN = tuple(name for name in INPUT_FIELDS if name != EVENT_TS)


@dataclass(frozen=True)
class Scored:
    """Results of one call with the inputs the sinks need (the records as the state saw them)."""

    results: list[ScoreResult]
    records: list[dict[str, Any]]
    # The online (tabular) features each record was scored with, under `feature_config`: a challenger
    # with the same configuration scores in shadow from them without a second pass over the state.
    tabular: np.ndarray | None = None
    feature_config: Any = None

    def decision_counts(self) -> dict[str, int]:
        counts = Counter(r.decision for r in self.results)
        return {name: counts.get(name, 0) for name in ("approve", "review", "decline")}


def state_record(txn: TransactionIn) -> dict[str, Any]:
    """The transaction's id (assigned when missing) and the feature spec's `INPUT_FIELDS`, as the feature
    state and the sinks read them: the event time as epoch milliseconds (`EVENT_MS`)."""
    record = {TXN_ID: txn.txn_id or uuid.uuid4().hex, EVENT_MS: round(txn.event_ts.timestamp() * 1000)}
    for name in _INPUTS_AS_GIVEN:
        record[name] = getattr(txn, name)
    return record


def score_transactions(
    bundle: ModelBundle,
    state: ServingState,
    txns: Sequence[TransactionIn],
    reasons: ReasonPolicy = "all",
    top_reasons: int = 5,
    exact_reasons: bool = False,
    card_status: CardStatusBook | None = None,
) -> Scored:
    """Score transactions in order; each one's features see the ones before it, then it joins the history."""
    records = [state_record(t) for t in txns]
    return score_records(bundle, state, records, reasons, top_reasons, exact_reasons, card_status)


def score_records(
    bundle: ModelBundle,
    state: ServingState,
    records: Sequence[dict[str, Any]],
    reasons: ReasonPolicy = "all",
    top_reasons: int = 5,
    exact_reasons: bool = False,
    card_status: CardStatusBook | None = None,
) -> Scored:
    """`score_transactions` of transactions already in their `state_record` form (the stream scorer
    makes it once per message, when it keeps the card's history).

    A card the bank has stopped (`card_status`) is declined whatever its score; its transactions still
    join the history (an attempt on a blocked card is part of the card's behaviour)."""
    records = list(records)
    rows = np.empty((len(records), bundle.feature_count), dtype=np.float32)
    if len(records) == 1:  # a request: Python numbers beat numpy's fixed cost per call
        x_tab, fired = state.score_inputs(records[0])
        hits = [fired]
    else:
        x_tab, hits = state.score_inputs_many(records)
    rows[:, :_N_TABULAR] = x_tab
    if bundle.uses_graph:
        for i, rec in enumerate(records):
            rows[i, _N_TABULAR:] = bundle.graph_columns(rec["card_id"], rec["merchant_id"], rec["user_id"])
    evaluation = bundle.evaluate(rows, reasons, exact_reasons)
    why = _top_reasons(bundle, rows, evaluation.explained, evaluation.contributions, top_reasons)
    scores, decisions = evaluation.probabilities.tolist(), evaluation.decisions.tolist()
    results = [
        ScoreResult(
            txn_id=rec["txn_id"],
            score=scores[i],
            decision=cast(Decision, decisions[i]),  # `decisions` only yields the three Decision labels
            reasons=why.get(i, []),
            rules_fired=hits[i],
        )
        for i, rec in enumerate(records)
    ]
    if card_status:  # an empty book (no CDC source, or no card ever stopped) costs nothing
        results = [card_status.enforce(rec["card_id"], r) for rec, r in zip(records, results, strict=True)]
    return Scored(results, records, x_tab, state.config)


@dataclass(frozen=True)
class ShadowScores:
    """A challenger's scores and decisions of transactions the champion decided: recorded, never acted on."""

    model_version: str
    scores: list[float]
    decisions: list[str]


def shadow_scores(challenger: ModelBundle, scored: Scored) -> ShadowScores | None:
    """The challenger's scores of the transactions in `scored`, from the same online features (no reasons:
    nobody acts on them). None when the challenger reads a different feature configuration: its features
    would need an online state of their own."""
    if scored.tabular is None or challenger.model.feature_config != scored.feature_config:
        return None
    rows = np.empty((len(scored.records), challenger.feature_count), dtype=np.float32)
    rows[:, :_N_TABULAR] = scored.tabular
    if challenger.uses_graph:
        for i, rec in enumerate(scored.records):
            rows[i, _N_TABULAR:] = challenger.graph_columns(
                rec["card_id"], rec["merchant_id"], rec["user_id"]
            )
    evaluation = challenger.evaluate(rows, "none")
    return ShadowScores(challenger.version, evaluation.probabilities.tolist(), evaluation.decisions.tolist())


def _top_reasons(
    bundle: ModelBundle, rows: np.ndarray, explained: np.ndarray, contributions: np.ndarray, top: int
) -> dict[int, list[Reason]]:
    """Per explained row, the `top` reasons with the largest contribution magnitude, largest first."""
    if not len(explained):
        return {}
    groups = bundle.reasons
    orders = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :top].tolist()
    out = {}
    # Python numbers from here: no numpy call per reason.
    for row, order, amounts in zip(explained.tolist(), orders, contributions.tolist(), strict=True):
        values = rows[row].tolist()
        reasons = []
        for g in order:
            column = groups.value_column[g]
            value = values[column] if column >= 0 else None
            reasons.append(
                Reason(
                    feature=groups.names[g],
                    description=groups.descriptions[g],
                    value=value if value is not None and math.isfinite(value) else None,
                    contribution=round(amounts[g], 6),
                )
            )
        out[row] = reasons
    return out
