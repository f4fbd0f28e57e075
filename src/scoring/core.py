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
from fraudlake.scoring.models import Decision, Reason, RuleHit, ScoreResult, TransactionIn
from fraudlake.scoring.state import ServingState

_N_TABULAR = len(FEATURE_NAMES)
_INPUTS_AS_GIVEN = tuple(name for name in INPUT_FIELDS if name != EVENT_TS)


@dataclass(frozen=True)
class Scored:
    """Results of one call with the inputs the sinks need (the records as the state saw them)."""

    results: list[ScoreResult]
    records: list[dict[str, Any]]

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
) -> Scored:
    """Score transactions in order; each one's features see the ones before it, then it joins the history."""
    records = [state_record(t) for t in txns]
    rows = np.empty((len(records), bundle.feature_count), dtype=np.float32)
    hits: list[list[RuleHit]] = []
    for i, rec in enumerate(records):
        x_tab, fired = state.score_inputs(rec)
        rows[i, :_N_TABULAR] = x_tab[0]
        if bundle.uses_graph:
            rows[i, _N_TABULAR:] = bundle.graph_columns(rec["card_id"], rec["merchant_id"], rec["user_id"])
        hits.append(fired)
    evaluation = bundle.evaluate(rows, reasons, exact_reasons)
    explained = {int(row): k for k, row in enumerate(evaluation.explained)}
    results = []
    for i, rec in enumerate(records):
        k = explained.get(i)
        why = [] if k is None else _top_reasons(bundle, rows[i], evaluation.contributions[k], top_reasons)
        results.append(
            ScoreResult(
                txn_id=rec["txn_id"],
                score=float(evaluation.probabilities[i]),
                # `decisions` only yields the three Decision labels; the model validates it again.
                decision=cast(Decision, str(evaluation.decisions[i])),
                reasons=why,
                rules_fired=hits[i],
            )
        )
    return Scored(results, records)


def _top_reasons(bundle: ModelBundle, row: np.ndarray, contributions: np.ndarray, top: int) -> list[Reason]:
    """The `top` reasons with the largest contribution magnitude, largest first."""
    groups = bundle.reasons
    order = np.argsort(-np.abs(contributions), kind="stable")[:top].tolist()
    values, amounts = row.tolist(), contributions.tolist()  # Python numbers: no numpy call per reason
    out = []
    for g in order:
        column = groups.value_column[g]
        value = values[column] if column >= 0 else None
        out.append(
            Reason(
                feature=groups.names[g],
                description=groups.descriptions[g],
                value=value if value is not None and math.isfinite(value) else None,
                contribution=round(amounts[g], 6),
            )
        )
    return out
