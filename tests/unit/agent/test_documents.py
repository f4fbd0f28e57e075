"""Pure document builders: stable ids, the facts in the text, flat metadata, content hashes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fraudlake.agent.documents import (
    Window,
    alert_document,
    card_document,
    ddl_descriptions,
    merchant_document,
    table_documents,
)

pytestmark = pytest.mark.unit

WINDOW = Window(datetime(2019, 2, 15, tzinfo=UTC), datetime(2019, 3, 17, tzinfo=UTC))
ALERT_ROW = {
    "alert_id": "al_1", "txn_id": "t1", "card_id": "1006-1", "user_id": "1006",
    "merchant_id": "4702677039320152802",
    "event_ts": datetime(2019, 3, 5, 14, 6, tzinfo=UTC), "source": "model", "score": 0.93, "severity": "high",
    "status": "open", "message": "", "amount": 412.33, "use_chip": "Online Transaction",
    "merchant_city": "ONLINE",
    "merchant_state": None, "mcc": 5311, "errors": "Bad PIN", "is_fraud": True, "model_version": "v7",
    "reasons": json.dumps(
        [{"feature": "amount_vs_user_norm", "description": "Amount vs usual", "contribution": 2.1}]
    ),
    "txns_10m": 3, "amount_10m": 1020.11, "txns_24h": 7, "amount_24h": 1893.2, "merchants_24h": 4,
    "card_alerts_1d": 4, "card_alert_merchants": ["-108463862155544488", "4702677039320152802"],
    "user_avg_amount": 54.2, "merchant_fraud_txns": 12, "merchant_fraud_cards": 9, "merchant_alerts": 15,
}  # fmt: skip


def test_alert_document_is_a_case_summary() -> None:
    doc = alert_document(ALERT_ROW)
    assert doc.id == "alert:al_1"
    assert doc.kind == "alert"
    for fact in (
        "card 1006-1 (user 1006)",
        "score 0.93",
        "$412.33 online purchase at merchant 4702677039320152802 (online, MCC 5311)",
        "2019-03-05 14:06 UTC",
        "Bad PIN",
        "labelled fraud",
        "3 transactions totalling $1,020.11 in the 10 minutes",
        "7 totalling $1,893.20 at 4 merchants",
        "flagged 4 times within a day, at merchants -108463862155544488, 4702677039320152802",
        "12 fraudulent transactions on 9 cards and 15 alerts",
        "Amount vs usual (+2.10)",
    ):
        assert fact in doc.text
    assert doc.metadata["card_id"] == "1006-1"
    assert doc.metadata["event_epoch"] == int(ALERT_ROW["event_ts"].timestamp())
    assert all(isinstance(v, str | int | float | bool) for v in doc.chroma_metadata().values())


def test_missing_join_partners_leave_sentences_out() -> None:
    sparse = {k: ALERT_ROW[k] for k in ("alert_id", "card_id", "user_id", "merchant_id", "event_ts", "source",
                                        "score", "severity", "status")}  # fmt: skip
    doc = alert_document(sparse)
    assert "a transaction at merchant" in doc.text
    assert "Card activity" not in doc.text
    assert "amount" not in doc.metadata


def test_content_hash_follows_text_and_metadata() -> None:
    doc = alert_document(ALERT_ROW)
    assert alert_document(dict(ALERT_ROW)).content_hash == doc.content_hash
    assert alert_document(ALERT_ROW | {"status": "confirmed"}).content_hash != doc.content_hash


def test_merchant_and_card_profiles() -> None:
    merchant = merchant_document(
        {"merchant_id": "77", "merchant_city": "Cranston", "merchant_state": "RI", "mcc": 5651, "txns": 200,
         "cards": 150, "fraud_txns": 4, "fraud_cards": 1, "fraud_amount": 999.5,
         "first_fraud": datetime(2019, 3, 1, tzinfo=UTC), "last_fraud": datetime(2019, 3, 13, tzinfo=UTC),
         "fraud_txns_7d": 2, "alerts": 5, "open_alerts": 4, "max_score": 0.98},
        WINDOW,
    )  # fmt: skip
    assert merchant.id == "merchant:77"
    assert (
        "(Cranston, RI, MCC 5651): from 2019-02-15 to 2019-03-17, 200 transactions on 150 cards"
        in merchant.text
    )
    assert "4 fraudulent (2.00%) on 1 card totalling $999.50" in merchant.text
    assert "5 alerts (4 open), highest score 0.98" in merchant.text
    card = card_document(
        {"card_id": "9-0", "user_id": "9", "txns": 1, "amount": 10.0, "merchants": 1, "fraud_txns": 0,
         "fraud_amount": 0.0, "fraud_merchants": [], "card_brand": "Visa", "card_type": "Debit",
         "card_last4": "4242", "credit_limit": 1000.0, "card_on_dark_web": True},
        WINDOW,
    )  # fmt: skip
    assert card.id == "card:9-0"
    assert "Visa Debit ending 4242, credit limit $1,000.00, card number seen on the dark web" in card.text
    assert "1 transaction totalling $10.00 at 1 merchant; 0 fraudulent" in card.text


def test_table_documents_carry_ddl_comments_and_columns() -> None:
    columns = [
        {"table": "alerts", "name": "alert_id", "type": "String", "comment": ""},
        {
            "table": "alerts",
            "name": "status",
            "type": "LowCardinality(String)",
            "comment": "open / dismissed",
        },
    ]
    (doc,) = table_documents("fp", columns)
    assert doc.id == "table:alerts"
    assert doc.text.startswith("Table fp.alerts. Alerts raised by the model or a rule")
    assert "status (LowCardinality(String)): open / dismissed" in doc.text
    assert "rule_spend_burst_10m" in ddl_descriptions("fp")
