"""Test data for the agent: a small generated world loaded into a pipeline database of its own.

Transactions come from the real generator (fraud rings, compromised merchants, card testing,
takeovers) with a raised fraud rate so two weeks hold a few hundred frauds. Alerts and predictions
stand in for what scoring writes: every fraud is flagged by the model with reasons, plus a few
dismissed rule alerts on legitimate transactions (false positives an analyst has seen).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from fraudlake.clickhouse import migrations
from fraudlake.producer.entities import load_cards, load_users
from fraudlake.producer.fraud_config import FraudConfig
from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator
from fraudlake.schemas import TRANSACTIONS

START, END = date(2019, 3, 4), date(2019, 3, 18)
MODEL_VERSION = "2019-03-01.test"
TOKEN_KEY = b"agent-test-token-key-0123456789ab"
REASON_FEATURES = (
    ("amount_vs_user_norm", "Amount compared with the user's usual spending"),
    ("card_txn_count_1h", "Transactions on the card in the last hour"),
    ("merchant_fraud_rate", "Fraud rate of the merchant so far"),
    ("user_state_jump", "Purchase far from the user's recent location"),
)


@dataclass(frozen=True)
class AgentWorld:
    """The generated data as loaded, plus the generator's ground truth the tests check against."""

    transactions: pa.Table  # with fraud_mechanism / fraud_event truth columns
    alerts: pa.Table
    rings: list[set[str]]  # merchant ids of each fraud ring

    @property
    def latest(self) -> datetime:
        return pc.max(self.transactions["event_ts"]).as_py()


@cache
def generate_world(seed: int = 11, fraud_rate: float = 0.003) -> AgentWorld:
    generator = TransactionGenerator(
        GeneratorConfig(seed=seed, start=START, end=END, fraud=FraudConfig(rate=fraud_rate)),
        token_key=TOKEN_KEY,
    )
    transactions = pa.concat_tables(list(generator.chunks()))
    merchants = generator.pop.merchants
    rings = [
        {str(merchants.brand_name[merchants.brand[index]]) for index in ring}
        for ring in generator.fraud.ring_merchants
    ]
    return AgentWorld(transactions, build_alerts(transactions), rings)


def build_alerts(transactions: pa.Table, false_positive_share: float = 0.1) -> pa.Table:
    """Model alerts for every fraud, rule alerts (dismissed) for a sample of large legit purchases."""
    rng = np.random.default_rng(5)
    fraud = transactions.filter(transactions["is_fraud"])
    legit = transactions.filter(
        pc.and_(pc.invert(transactions["is_fraud"]), pc.greater(transactions["amount"], 400))
    )
    n_fp = min(len(legit), int(len(fraud) * false_positive_share))
    legit = legit.take(np.sort(rng.choice(len(legit), n_fp, replace=False)))
    rows = []
    for source, table in (("model", fraud), ("rule:spend_burst_10m", legit)):
        for txn in table.select(["txn_id", "card_id", "user_id", "merchant_id", "event_ts"]).to_pylist():
            score = float(rng.uniform(0.8, 0.99)) if source == "model" else float(rng.uniform(0.5, 0.7))
            rows.append(
                {
                    **txn,
                    "alert_id": f"al_{txn['txn_id'][:16]}",
                    "source": source,
                    "score": score,
                    "severity": "high" if score >= 0.9 else "medium" if score >= 0.75 else "low",
                    "status": "open" if source == "model" else "dismissed",
                    "message": "",
                }
            )
    return pa.Table.from_pylist(rows)


def reasons_json(rng: np.random.Generator) -> str:
    picked = rng.choice(len(REASON_FEATURES), 3, replace=False)
    reasons = [
        {"feature": REASON_FEATURES[i][0], "description": REASON_FEATURES[i][1],
         "value": round(float(rng.uniform(0, 5)), 2), "contribution": round(float(rng.uniform(0.3, 2.5)), 2)}
        for i in picked
    ]  # fmt: skip
    return json.dumps(sorted(reasons, key=lambda r: -r["contribution"]))


def load_world(client: Client, database: str, world: AgentWorld) -> None:
    """Create the pipeline database from the DDL and insert the world into it."""
    migrations.apply_schema(client, migrations.render_statements(migrations.SchemaParams(database)))
    client.insert_arrow(f"{database}.transactions", world.transactions.select(TRANSACTIONS.names))
    client.insert_arrow(f"{database}.users", load_users())
    client.insert_arrow(f"{database}.cards", load_cards(TOKEN_KEY))
    client.insert_arrow(f"{database}.alerts", world.alerts)
    rng = np.random.default_rng(9)
    alerts = world.alerts.to_pylist()
    predictions = pa.Table.from_pylist(
        [
            {
                "txn_id": a["txn_id"], "card_id": a["card_id"], "user_id": a["user_id"],
                "merchant_id": a["merchant_id"], "event_ts": a["event_ts"], "model_version": MODEL_VERSION,
                "score": a["score"], "decision": "decline" if a["score"] >= 0.9 else "review",
                "reasons": reasons_json(rng),
            }
            for a in alerts
        ]
    )  # fmt: skip
    client.insert_arrow(f"{database}.predictions", predictions)


def week_before(moment: datetime) -> datetime:
    return moment.astimezone(UTC) - timedelta(days=7)
