"""A case's detail as `CaseStore.case` returns it, for the case summary tests (one place, many shapes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fraudlake.cases.store import CaseAction, CaseDetail, CaseSummary

DAY = datetime(2026, 4, 7, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: datetime = DAY) -> datetime:
    return day.replace(hour=hour, minute=minute)


def summary(card: str = "7-0", day: datetime = DAY, **changes: Any) -> CaseSummary:
    base = CaseSummary(
        case_id=f"case-{day:%Y%m%d}-{card}", card_id=card, window_start=day, status="open", priority=88,
        alerts=3, max_score=0.93, max_amount=1800.0, first_at=at(9, 12, day), last_at=at(21, 40, day),
        sources=["model", "rule:burst"],
    )  # fmt: skip
    return replace(base, **changes)


ALERTS = [
    {"alert_id": "a1", "txn_id": "t1", "merchant_id": "m-41", "event_ts": at(9, 12), "source": "model",
     "score": 0.93, "severity": "high", "message": "model v7: decline at score 0.930"},
    {"alert_id": "a2", "txn_id": "t2", "merchant_id": "m-41", "event_ts": at(14, 5), "source": "model",
     "score": 0.71, "severity": "medium", "message": "model v7: review at score 0.710"},
    {"alert_id": "a3", "txn_id": "t3", "merchant_id": "m-77", "event_ts": at(21, 40), "source": "rule:burst",
     "score": 0.2, "severity": "low",
     "message": "model v7: approve at score 0.200; burst: 4 transactions totalling $2,445.50 in 10 minutes"},
]  # fmt: skip


def _reason(feature: str, description: str, contribution: float) -> dict[str, Any]:
    return {"feature": feature, "description": description, "value": 1.0, "contribution": contribution}


DECISIONS = [
    {"txn_id": "t1", "merchant_id": "m-41", "event_ts": at(9, 12), "amount": 1800.0, "score": 0.93,
     "decision": "decline", "rules_fired": [],
     "reasons": [_reason("amount_vs_card_mean", "amount relative to the card's mean", 1.8),
                 _reason("card_txns_10m", "card transactions in the previous 10 minutes", 0.9),
                 _reason("mcc_fraud_rate", "fraud rate of the merchant category", -0.3)]},
    {"txn_id": "t2", "merchant_id": "m-41", "event_ts": at(14, 5), "amount": 600.0, "score": 0.71,
     "decision": "review", "rules_fired": [],
     "reasons": [_reason("amount_vs_card_mean", "amount relative to the card's mean", 1.2),
                 _reason("merchant_new_for_card", "first purchase of the card at this merchant", 0.7)]},
]  # fmt: skip

# t3's amount is only in the card's transactions (the rule's alert has no decision row).
TRANSACTIONS = [
    {"txn_id": "t3", "event_ts": at(21, 40), "merchant_id": "m-77", "amount": 45.5},
    {"txn_id": "t2", "event_ts": at(14, 5), "merchant_id": "m-41", "amount": 600.0},
    {"txn_id": "t1", "event_ts": at(9, 12), "merchant_id": "m-41", "amount": 1800.0},
] + [
    {"txn_id": f"old-{i}", "event_ts": at(12, day=DAY.replace(day=i)), "merchant_id": "m-1", "amount": amount}
    for i, amount in zip(range(1, 6), [20.0, 35.0, 40.0, 52.0, 61.0], strict=True)
]  # fmt: skip


def case_detail(
    status: str = "open",
    linked: list[CaseSummary] | None = None,
    actions: list[CaseAction] | None = None,
    priority: int = 88,
    alerts: list[dict[str, Any]] = ALERTS,
    decisions: list[dict[str, Any]] = DECISIONS,
    transactions: list[dict[str, Any]] = TRANSACTIONS,
) -> CaseDetail:
    """The case of card 7-0 on 2026-04-07: three flagged transactions at two merchants, two by the model
    and one by the burst rule; by default linked to a case of the same card two days before (not fraud)
    and to an open case of another card sharing a merchant."""
    if linked is None:
        linked = [
            summary(day=DAY.replace(day=5), status="not_fraud", priority=40),
            summary(card="9-1", day=DAY.replace(day=6), priority=55),
        ]
    case = summary(status=status, priority=priority)
    return CaseDetail(case, ["m-41", "m-77"], alerts, transactions, decisions, linked, actions or [])
