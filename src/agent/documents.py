"""The documents the agent searches, built from the pipeline's ClickHouse database.

Four kinds, each with a stable id so re-indexing replaces rather than duplicates:

- ``alert:<alert_id>`` — one case: the flagged transaction (card, merchant, amount), the card's
  10-minute and 24-hour window aggregates, what else the card was flagged for within a day, the
  merchant's flagged history and the model's reasons;
- ``merchant:<merchant_id>`` and ``card:<card_id>`` — risk profiles of every merchant and card with
  fraud or alerts in the window;
- ``table:<name>`` — the pipeline's own table and column documentation (DDL comments and
  ``system.columns``), so questions about the data can be answered and turned into SQL.

Building is split in two: ``fetch_*`` functions run one query each, ``*_document`` functions are pure
(row dicts in, :class:`IndexDocument` out) and unit-tested without ClickHouse. Every number covers
the window ``[start, end)``; ``end`` is the indexing run's data interval end, never ``now()``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from fraudlake.clickhouse.migrations import IDENTIFIER, SchemaParams, render_statements

ALERT, MERCHANT, CARD, TABLE = "alert", "merchant", "card", "table"
KINDS = (ALERT, MERCHANT, CARD, TABLE)
_MAX_LISTED = 6  # merchants listed in one sentence
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


# --- queries ---------------------------------------------------------------------------------

_WINDOW = "event_ts >= {start:DateTime64(3, 'UTC')} AND event_ts < {end:DateTime64(3, 'UTC')}"
_DAY_BEFORE_WINDOW = (
    "event_ts >= {start:DateTime64(3, 'UTC')} - INTERVAL 1 DAY AND event_ts < {end:DateTime64(3, 'UTC')}"
)

ALERTS_SQL = f"""
WITH alerts_in AS (
    SELECT alert_id, txn_id, card_id, user_id, merchant_id, event_ts, source, score, severity, status, message
    FROM {{db}}.alerts FINAL WHERE {_WINDOW}
)
SELECT a.alert_id AS alert_id, a.txn_id AS txn_id, a.card_id AS card_id, a.user_id AS user_id,
       a.merchant_id AS merchant_id, a.event_ts AS event_ts, a.source AS source, a.score AS score,
       a.severity AS severity, a.status AS status, a.message AS message,
       t.amount AS amount, t.use_chip AS use_chip, t.merchant_city AS merchant_city,
       t.merchant_state AS merchant_state, t.mcc AS mcc, t.errors AS errors, t.is_fraud AS is_fraud,
       p.model_version AS model_version, p.reasons AS reasons
FROM alerts_in AS a
LEFT JOIN (
    SELECT txn_id, amount, use_chip, merchant_city, merchant_state, mcc, errors, is_fraud
    FROM {{db}}.transactions FINAL
    WHERE {_DAY_BEFORE_WINDOW} AND txn_id IN (SELECT txn_id FROM alerts_in)
) AS t ON t.txn_id = a.txn_id
LEFT JOIN (
    SELECT txn_id, argMax(model_version, scored_at) AS model_version, argMax(reasons, scored_at) AS reasons
    FROM {{db}}.predictions FINAL
    WHERE txn_id IN (SELECT txn_id FROM alerts_in)
    GROUP BY txn_id
) AS p ON p.txn_id = a.txn_id
ORDER BY a.event_ts, a.alert_id
"""

# The card's activity up to each alert: 10-minute and 24-hour windows ending at the alert.
ALERT_WINDOWS_SQL = f"""
WITH alerts_in AS (SELECT alert_id, card_id, user_id, event_ts FROM {{db}}.alerts FINAL WHERE {_WINDOW})
SELECT a.alert_id AS alert_id,
       countIf(t.event_ts > a.event_ts - INTERVAL 10 MINUTE) AS txns_10m,
       sumIf(t.amount, t.event_ts > a.event_ts - INTERVAL 10 MINUTE) AS amount_10m,
       count() AS txns_24h, sum(t.amount) AS amount_24h, uniqExact(t.merchant_id) AS merchants_24h
FROM alerts_in AS a
INNER JOIN (
    SELECT card_id, event_ts, amount, merchant_id FROM {{db}}.transactions FINAL
    WHERE {_DAY_BEFORE_WINDOW} AND card_id IN (SELECT card_id FROM alerts_in)
) AS t ON t.card_id = a.card_id
WHERE t.event_ts <= a.event_ts AND t.event_ts > a.event_ts - INTERVAL 1 DAY
GROUP BY a.alert_id
"""

# Other alerts on the same card within a day either side: what links a case to others.
ALERT_LINKS_SQL = f"""
WITH alerts_in AS (SELECT alert_id, card_id, merchant_id, event_ts FROM {{db}}.alerts FINAL WHERE {_WINDOW})
SELECT a.alert_id AS alert_id, count() AS card_alerts_1d,
       arraySort(groupUniqArray({_MAX_LISTED})(b.merchant_id)) AS card_alert_merchants
FROM alerts_in AS a
INNER JOIN alerts_in AS b ON b.card_id = a.card_id
WHERE abs(dateDiff('second', a.event_ts, b.event_ts)) <= 86400
GROUP BY a.alert_id
"""

USER_AVERAGES_SQL = f"""
SELECT user_id, avg(amount) AS avg_amount FROM {{db}}.transactions FINAL
WHERE {_WINDOW} AND user_id IN (SELECT user_id FROM {{db}}.alerts FINAL WHERE {_WINDOW})
GROUP BY user_id
"""

MERCHANTS_SQL = f"""
SELECT merchant_id, any(merchant_city) AS merchant_city, any(merchant_state) AS merchant_state,
       any(mcc) AS mcc, count() AS txns, uniqExact(card_id) AS cards,
       countIf(is_fraud) AS fraud_txns, uniqExactIf(card_id, is_fraud) AS fraud_cards,
       sumIf(amount, is_fraud) AS fraud_amount,
       minIf(event_ts, is_fraud) AS first_fraud, maxIf(event_ts, is_fraud) AS last_fraud,
       countIf(is_fraud AND event_ts >= {{end:DateTime64(3, 'UTC')}} - INTERVAL 7 DAY) AS fraud_txns_7d
FROM {{db}}.transactions FINAL
WHERE {_WINDOW}
GROUP BY merchant_id
HAVING fraud_txns > 0 OR merchant_id IN (SELECT merchant_id FROM {{db}}.alerts FINAL WHERE {_WINDOW})
ORDER BY merchant_id
"""

CARDS_SQL = f"""
SELECT t.card_id AS card_id, any(t.user_id) AS user_id, count() AS txns, sum(t.amount) AS amount,
       uniqExact(t.merchant_id) AS merchants, countIf(t.is_fraud) AS fraud_txns,
       sumIf(t.amount, t.is_fraud) AS fraud_amount,
       arraySort(groupUniqArrayIf({_MAX_LISTED})(t.merchant_id, t.is_fraud)) AS fraud_merchants,
       minIf(t.event_ts, t.is_fraud) AS first_fraud, maxIf(t.event_ts, t.is_fraud) AS last_fraud,
       any(c.card_brand) AS card_brand, any(c.card_type) AS card_type, any(c.card_last4) AS card_last4,
       any(c.credit_limit) AS credit_limit, any(c.card_on_dark_web) AS card_on_dark_web
FROM (SELECT * FROM {{db}}.transactions FINAL WHERE {_WINDOW}) AS t
LEFT JOIN (
    SELECT card_id, card_brand, card_type, card_last4, credit_limit, card_on_dark_web FROM {{db}}.cards FINAL
) AS c ON c.card_id = t.card_id
GROUP BY t.card_id
HAVING fraud_txns > 0 OR t.card_id IN (SELECT card_id FROM {{db}}.alerts FINAL WHERE {_WINDOW})
ORDER BY t.card_id
"""

ALERT_COUNTS_SQL = f"""
SELECT {{key}} AS key, count() AS alerts, countIf(status = 'open') AS open_alerts,
       max(score) AS max_score
FROM {{db}}.alerts FINAL WHERE {_WINDOW}
GROUP BY key
"""

COLUMNS_SQL = """
SELECT table, name, type, comment FROM system.columns
WHERE database = {database:String} ORDER BY table, position
"""


def build_documents(client: Client, database: str, window: Window) -> list[IndexDocument]:
    """Every document of the pipeline `database` for `window`, in a stable order."""
    db = database_identifier(database)
    merchants = fetch_rows(client, MERCHANTS_SQL, db, window)
    merchant_alerts = _alert_counts(client, db, window, "merchant_id")
    merchant_by_id = {
        row["merchant_id"]: row | merchant_alerts.get(row["merchant_id"], {}) for row in merchants
    }
    card_alerts = _alert_counts(client, db, window, "card_id")
    cards = [row | card_alerts.get(row["card_id"], {}) for row in fetch_rows(client, CARDS_SQL, db, window)]
    documents = [alert_document(row) for row in fetch_alert_rows(client, db, window, merchant_by_id)]
    documents += [merchant_document(row, window) for row in merchant_by_id.values()]
    documents += [card_document(row, window) for row in cards]
    documents += table_documents(database, fetch_columns(client, database))
    return documents


def database_identifier(name: str) -> str:
    """`name` if it is a plain ClickHouse identifier (it is spliced into SQL), else ValueError."""
    if not IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a valid pipeline database name")
    return name


def fetch_rows(client: Client, sql: str, db: str, window: Window, **extra: Any) -> list[dict[str, Any]]:
    """Rows of one of this module's queries as dicts (missing join partners as None)."""
    result = client.query(
        sql.replace("{db}", db), parameters={**window.params(), **extra}, settings={"join_use_nulls": 1}
    )
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def fetch_alert_rows(
    client: Client, db: str, window: Window, merchants: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Alert rows joined with their transaction, prediction, windows, links and merchant history."""
    windows = {row["alert_id"]: row for row in fetch_rows(client, ALERT_WINDOWS_SQL, db, window)}
    links = {row["alert_id"]: row for row in fetch_rows(client, ALERT_LINKS_SQL, db, window)}
    averages = {
        row["user_id"]: row["avg_amount"] for row in fetch_rows(client, USER_AVERAGES_SQL, db, window)
    }
    rows = []
    for row in fetch_rows(client, ALERTS_SQL, db, window):
        merchant = merchants.get(row["merchant_id"], {})
        rows.append(
            row
            | windows.get(row["alert_id"], {})
            | links.get(row["alert_id"], {})
            | {
                "user_avg_amount": averages.get(row["user_id"]),
                "merchant_fraud_txns": merchant.get("fraud_txns"),
                "merchant_fraud_cards": merchant.get("fraud_cards"),
                "merchant_alerts": merchant.get("alerts"),
            }
        )
    return rows


def fetch_columns(client: Client, database: str) -> list[dict[str, Any]]:
    result = client.query(COLUMNS_SQL, parameters={"database": database})
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def _alert_counts(client: Client, db: str, window: Window, key: str) -> dict[str, dict[str, Any]]:
    if key not in ("card_id", "merchant_id"):
        raise ValueError(f"alerts are counted per card_id or merchant_id, not {key!r}")
    rows = fetch_rows(client, ALERT_COUNTS_SQL.replace("{key}", key), db, window)
    return {row.pop("key"): row for row in rows}


# --- pure builders ---------------------------------------------------------------------------


def alert_document(row: Mapping[str, Any]) -> IndexDocument:
    """The case summary of one alert row (see ``fetch_alert_rows`` for the keys)."""
    when = _ts(row["event_ts"])
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
            "event_ts": _ts(row["event_ts"]),
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
            f"Fraud first seen {_ts(row['first_fraud'])}, last seen {_ts(row['last_fraud'])}; "
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
            f"Fraud between {_ts(row['first_fraud'])} and {_ts(row['last_fraud'])} at merchants "
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


# --- wording ---------------------------------------------------------------------------------


def count(number: Any, noun: str) -> str:
    """`3 cards`, `1 card`: the number with its noun (plural by adding s)."""
    return f"{number} {noun}" if int(number or 0) == 1 else f"{number} {noun}s"


def money(value: Any) -> str:
    amount = float(value or 0)
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "0%"


def channel(use_chip: str | None) -> str:
    return {"Online Transaction": "online purchase", "Chip Transaction": "chip purchase",
            "Swipe Transaction": "swiped purchase"}.get(use_chip or "", "purchase")  # fmt: skip


def merchant_place(city: str | None, state: str | None, mcc: Any) -> str:
    parts = [p for p in (city if city and city != "ONLINE" else "online" if city else None, state) if p]
    if mcc not in (None, 0):
        parts.append(f"MCC {mcc}")
    return f" ({', '.join(parts)})" if parts else ""


def listing(items: Sequence[Any]) -> str:
    shown = [str(i) for i in list(items)[:_MAX_LISTED]]
    return ", ".join(shown) + (" and others" if len(items) > _MAX_LISTED else "") if shown else "none"


def reason_text(raw: Any, top: int = 3) -> str:
    """The prediction's reasons JSON (list of {feature, contribution…} or {name: value}) in words."""
    if not raw:
        return ""
    try:
        reasons = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return str(raw)[:200]
    if isinstance(reasons, dict):
        reasons = [{"feature": k, "contribution": v} for k, v in reasons.items()]
    words = []
    for reason in list(reasons)[:top]:
        if not isinstance(reason, dict):
            continue
        name = reason.get("description") or reason.get("feature") or reason.get("name") or "?"
        contribution = reason.get("contribution")
        words.append(f"{name} ({float(contribution):+.2f})" if contribution is not None else str(name))
    return "; ".join(words)


def _ts(value: Any) -> str:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return str(value)


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
