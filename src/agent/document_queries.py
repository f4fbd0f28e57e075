"""What the agent's documents are built from: the pipeline's ClickHouse database, one query per fact.

:func:`build_documents` reads a window's alerts (joined with their transaction, prediction, the
card's activity, linked alerts and the merchant's history), the merchant and card risk profiles and
the schema's columns, and hands the rows to the pure builders of ``fraudlake.agent.documents``.
The database name is spliced into the SQL (``{db}``), so it must be a plain identifier
(:func:`database_identifier`); the window bounds are bind parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clickhouse_connect.driver.client import Client

from fraudlake.agent.documents import (
    IndexDocument,
    Window,
    alert_document,
    card_document,
    merchant_document,
    table_documents,
)
from fraudlake.agent.wording import MAX_LISTED
from fraudlake.clickhouse.migrations import IDENTIFIER

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
       arraySort(groupUniqArray({MAX_LISTED})(b.merchant_id)) AS card_alert_merchants
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
       arraySort(groupUniqArrayIf({MAX_LISTED})(t.merchant_id, t.is_fraud)) AS fraud_merchants,
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
