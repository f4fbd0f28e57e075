"""Chargebacks for the generator's frauds: the label from the field that arrives days after the fraud.

A cardholder disputes a fraudulent transaction some days after it; the issuer's chargeback then
labels it fraud. Each generated fraud gets one chargeback whose delay is drawn from a log-normal
(median `median_days`) and capped at `max_delay_days`: the label delay the model's features assume
(`fraudlake.ml.features.FeatureConfig.label_delay_ms`, 7 days), so a fraud is labelled by the time
the features use its label. The rows have the `labels` table's columns (clickhouse/152_labels.sql):
source 'chargeback', no case, known_at the transaction's event time plus the delay.

The delay of a transaction is drawn from its id and the seed alone: the same fraud gets the same
chargeback whichever chunk it comes in.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from statistics import NormalDist

import pyarrow as pa
import pyarrow.compute as pc

DAY_MS = 86_400_000
ACTOR = "issuer"
LABEL_COLUMNS = ("txn_id", "card_id", "label", "source", "case_id", "actor", "known_at")
LABELS_SCHEMA = pa.schema(
    [
        ("txn_id", pa.string()),
        ("card_id", pa.string()),
        ("label", pa.uint8()),
        ("source", pa.string()),
        ("case_id", pa.string()),
        ("actor", pa.string()),
        ("known_at", pa.timestamp("ms", tz="UTC")),
    ]
)
_NORMAL = NormalDist()


@dataclass(frozen=True)
class ChargebackConfig:
    seed: int = 42
    median_days: float = 3.0  # half of the disputes within three days
    sigma: float = 0.6  # log-normal spread: most between one and seven days
    min_days: float = 0.25  # nobody disputes within hours of the purchase
    max_delay_days: float = 7.0  # the features' label delay (FeatureConfig.label_delay_ms)


def chargeback_delay_ms(txn_id: str, config: ChargebackConfig) -> int:
    """The delay of the chargeback of `txn_id`, in ms: deterministic in (seed, txn_id)."""
    digest = hashlib.sha256(f"{config.seed}:{txn_id}".encode()).digest()
    u = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64  # in (0, 1)
    days = config.median_days * math.exp(config.sigma * _NORMAL.inv_cdf(u))
    days = min(max(days, config.min_days), config.max_delay_days)
    return round(days * DAY_MS)


def chargebacks(transactions: pa.Table, config: ChargebackConfig | None = None) -> pa.Table:
    """The chargeback labels of the frauds in `transactions` (a generator chunk or any table with
    txn_id, card_id, event_ts, is_fraud), in the `labels` table's columns."""
    config = config or ChargebackConfig()
    frauds = transactions.filter(pc.equal(transactions["is_fraud"], True)).select(
        ["txn_id", "card_id", "event_ts"]
    )
    txn_ids = frauds["txn_id"].to_pylist()
    event_ms = pc.cast(pc.cast(frauds["event_ts"], pa.timestamp("ms", tz="UTC")), pa.int64()).to_pylist()
    known_at = [t + chargeback_delay_ms(txn, config) for txn, t in zip(txn_ids, event_ms, strict=True)]
    n = len(txn_ids)
    return pa.table(
        {
            "txn_id": pa.array(txn_ids, pa.string()),
            "card_id": pc.cast(frauds["card_id"], pa.string()),
            "label": pa.array([1] * n, pa.uint8()),
            "source": pa.array(["chargeback"] * n, pa.string()),
            "case_id": pa.array([""] * n, pa.string()),
            "actor": pa.array([ACTOR] * n, pa.string()),
            "known_at": pa.array(known_at, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        },
        schema=LABELS_SCHEMA,
    )
