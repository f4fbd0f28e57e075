"""The documents the agent searches, and how each is written from rows of the pipeline's database.

Four kinds, each with a stable id so re-indexing replaces rather than duplicates:

- ``alert:<alert_id>`` — one case: the flagged transaction (card, merchant, amount), the card's
  10-minute and 24-hour window aggregates, what else the card was flagged for within a day, the
  merchant's flagged history and the model's reasons;
- ``merchant:<merchant_id>`` and ``card:<card_id>`` — risk profiles of every merchant and card with
  fraud or alerts in the window;
- ``table:<name>`` — the pipeline's own table and column documentation (DDL comments and
  ``system.columns``), so questions about the data can be answered and turned into SQL.

The ``*_document`` builders here are pure (row dicts in, :class:`IndexDocument` out) and unit-tested
without ClickHouse; the rows come from ``fraudlake.agent.document_queries``, which runs one query per
fact and builds the whole set. Every number covers the window ``[start, end)``; ``end`` is the
indexing run's data interval end, never ``now()``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fraudlake.agent.wording import (
    channel,
    count,
    listing,
    merchant_place,
    money,
    percent,
    reason_text,
    timestamp,
)
from fraudlake.clickhouse.migrations import SchemaParams, render_statements

ALERT, MERCHANT, CARD, TABLE = "alert", "merchant", "card", "table"
KINDS = (ALERT, MERCHANT, CARD, TABLE)
_CREATE_OBJECT = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\.(\w+)"
)


@dataclass(frozen=True)
class Window:
    """The data window documents describe: [start, end), UTC."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, days: int) -> Window:
        end = end.astimezone(UTC)
        return cls(end - timedelta(days=days), end)

    def params(self) -> dict[str, datetime]:
        return {"start": self.start, "end": self.end}

    def describe(self) -> str:
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"


@dataclass(frozen=True)
class IndexDocument:
    """One searchable document: stable id, text to embed, flat metadata for filters and citations."""

    id: str
    kind: str
    text: str
    metadata: Mapping[str, str | int | float | bool] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Changes whenever the text or metadata change: unchanged documents are not re-embedded."""
        payload = json.dumps([self.text, dict(self.metadata)], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def chroma_metadata(self) -> dict[str, str | int | float | bool]:
        return {**self.metadata, "kind": self.kind, "content_hash": self.content_hash}


def alert_document(row: Mapping[str, Any]) -> IndexDocument:
    """The case summary of one alert row (keys: ``document_queries.fetch_alert_rows``)."""
    when = timestamp(row["event_ts"])
    amount = row.get("amount")
    what = f"a {money(amount)} {channel(row.get('use_chip'))}" if amount is not None else "a transaction"
    place = merchant_place(row.get("merchant_city"), row.get("merchant_state"), row.get("mcc"))
    sentences = [
        f"Case {row['alert_id']}: card {row['card_id']} (user {row['user_id']}) was flagged by "
        f"{row['source']} with score {float(row['score']):.2f} (severity {row['severity']}, "
        f"status {row['status']}) for {what} "
        f"at merchant {row['merchant_id']}{place} on {when}."
    ]
    if row.get("errors"):
        sentences.append(f"Authorization errors: {row['errors']}.")
    if row.get("is_fraud"):
        sentences.append("The transaction is labelled fraud.")
    if row.get("txns_24h"):
        avg = row.get("user_avg_amount")
        sentences.append(
            f"Card activity: {count(row['txns_10m'], 'transaction')} totalling {money(row['amount_10m'])} "
            "in the 10 minutes "
            f"up to it and {row['txns_24h']} totalling {money(row['amount_24h'])} at {row['merchants_24h']} "
            f"merchants in the previous 24 hours"
            + (f", against the user's average of {money(avg)} per transaction." if avg is not None else ".")
        )
    if (row.get("card_alerts_1d") or 0) > 1:
        sentences.append(
            f"Linked: the card was flagged {row['card_alerts_1d']} times within a day, at merchants "
            f"{listing(row.get('card_alert_merchants') or [])}."
        )
    if row.get("merchant_fraud_txns"):
        sentences.append(
            f"Merchant {row['merchant_id']} had "
            f"{count(row['merchant_fraud_txns'], 'fraudulent transaction')} on "
            f"{count(row['merchant_fraud_cards'], 'card')} and "
            f"{count(row.get('merchant_alerts') or 0, 'alert')} in the window."
        )
    reasons = reason_text(row.get("reasons"))
    if reasons:
        sentences.append(
            f"Model {row.get('model_version') or ''} reasons: {reasons}.".replace("Model  ", "Model ")
        )
    if row.get("message"):
        sentences.append(f"Alert message: {row['message']}")
    metadata = _clean(
        {
            "alert_id": row["alert_id"],
            "txn_id": row.get("txn_id"),
            "card_id": row["card_id"],
            "user_id": row["user_id"],
            "merchant_id": row["merchant_id"],
            "event_ts": timestamp(row["event_ts"]),
            "event_epoch": _epoch(row["event_ts"]),
            "score": float(row["score"]),
            "severity": row["severity"],
            "status": row["status"],
            "source": row["source"],
            "amount": float(amount) if amount is not None else None,
        }
    )
    return IndexDocument(f"{ALERT}:{row['alert_id']}", ALERT, " ".join(sentences), metadata)


def merchant_document(row: Mapping[str, Any], window: Window) -> IndexDocument:
    """Risk profile of one merchant row of ``MERCHANTS_SQL`` (plus its alert counts)."""
    merchant = row["merchant_id"]
    place = merchant_place(row.get("merchant_city"), row.get("merchant_state"), row.get("mcc"))
    txns, frauds = int(row["txns"]), int(row["fraud_txns"])
    sentences = [
        f"Merchant risk profile {merchant}{place}: from {window.describe()}, {count(txns, 'transaction')} on "
        f"{count(row['cards'], 'card')}; {frauds} fraudulent ({percent(frauds, txns)}) on "
        f"{count(row['fraud_cards'], 'card')} "
        f"totalling {money(row['fraud_amount'])}."
    ]
    if frauds:
        sentences.append(
            f"Fraud first seen {timestamp(row['first_fraud'])}, last seen {timestamp(row['last_fraud'])}; "
            f"{count(row['fraud_txns_7d'], 'fraudulent transaction')} in the last 7 days."
        )
    if row.get("alerts"):
        sentences.append(alert_counts_sentence(row))
    metadata = _clean(
        {
            "merchant_id": merchant,
            "fraud_txns": frauds,
            "fraud_cards": int(row["fraud_cards"]),
            "fraud_txns_7d": int(row["fraud_txns_7d"]),
            "txns": txns,
            "alerts": int(row.get("alerts") or 0),
            "window_end": window.end.isoformat(),
        }
    )
    return IndexDocument(f"{MERCHANT}:{merchant}", MERCHANT, " ".join(sentences), metadata)


def card_document(row: Mapping[str, Any], window: Window) -> IndexDocument:
    """Risk profile of one card row of ``CARDS_SQL`` (plus its alert counts)."""
    card = row["card_id"]
    described = " ".join(str(part) for part in (row.get("card_brand"), row.get("card_type")) if part)
    facts = [f"user {row['user_id']}"]
    if described:
        facts.append(f"{described} ending {row.get('card_last4') or '????'}")
    if row.get("credit_limit") is not None:
        facts.append(f"credit limit {money(row['credit_limit'])}")
    if row.get("card_on_dark_web"):
        facts.append("card number seen on the dark web")
    frauds = int(row["fraud_txns"])
    sentences = [
        f"Card risk profile {card} ({', '.join(facts)}): from {window.describe()}, "
        f"{count(row['txns'], 'transaction')} "
        f"totalling {money(row['amount'])} at {count(row['merchants'], 'merchant')}; "
        f"{frauds} fraudulent totalling {money(row['fraud_amount'])}."
    ]
    if frauds:
        sentences.append(
            f"Fraud between {timestamp(row['first_fraud'])} and {timestamp(row['last_fraud'])} at merchants "
            f"{listing(row.get('fraud_merchants') or [])}."
        )
    if row.get("alerts"):
        sentences.append(alert_counts_sentence(row))
    metadata = _clean(
        {
            "card_id": card,
            "user_id": row["user_id"],
            "fraud_txns": frauds,
            "alerts": int(row.get("alerts") or 0),
            "window_end": window.end.isoformat(),
        }
    )
    return IndexDocument(f"{CARD}:{card}", CARD, " ".join(sentences), metadata)


def table_documents(database: str, columns: Iterable[Mapping[str, Any]]) -> list[IndexDocument]:
    """One document per table or view of `database`: its DDL description and its columns."""
    descriptions = ddl_descriptions(database)
    by_table: dict[str, list[Mapping[str, Any]]] = {}
    for column in columns:
        by_table.setdefault(column["table"], []).append(column)
    documents = []
    for table, cols in sorted(by_table.items()):
        described = "; ".join(
            f"{c['name']} ({c['type']})" + (f": {c['comment']}" if c.get("comment") else "") for c in cols
        )
        about = descriptions.get(table, "")
        text = f"Table {database}.{table}. {about} Columns: {described}.".replace(".  ", ". ")
        documents.append(
            IndexDocument(f"{TABLE}:{table}", TABLE, text, {"table": table, "database": database})
        )
    return documents


def ddl_descriptions(database: str) -> dict[str, str]:
    """Object name → the comment lines above its CREATE statement in ``clickhouse/*.sql``."""
    found = {}
    for statement in render_statements(SchemaParams(database)):
        match = _CREATE_OBJECT.search(statement)
        if not match:
            continue
        comments = [
            line.strip()[2:].strip() for line in statement.splitlines() if line.strip().startswith("--")
        ]
        found[match.group(2)] = " ".join(comments)
    return found


def alert_counts_sentence(row: Mapping[str, Any]) -> str:
    highest = float(row["max_score"])
    return f"{count(row['alerts'], 'alert')} ({row['open_alerts']} open), highest score {highest:.2f}."


def _epoch(value: Any) -> int:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(value.timestamp())
    return 0


def _clean(metadata: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """Chroma metadata holds scalars only: drop None, stringify the rest of the odd types."""
    return {
        k: v if isinstance(v, str | int | float | bool) else str(v)
        for k, v in metadata.items()
        if v is not None
    }
