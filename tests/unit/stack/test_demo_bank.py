"""The demo's bank as a CDC source: the pipeline's spec.sources and Secret, the card it blocks during the
live stream, and the summary's lines about it."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import pyarrow as pa
import pytest
from rich.console import Console

from fraudlake.local.demo import bank
from fraudlake.local.demo.platform import local_manifests, pipeline_of
from fraudlake.local.demo.stream_stage import scorer_environment
from fraudlake.local.demo.summary import print_card_block
from fraudlake.local.stack.local_strimzi import resolve_secret_refs
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.operator.reconcile import pipeline_from
from fraudlake.operator.sources import source_connector_manifest

pytestmark = pytest.mark.unit


def records() -> dict[str, ServiceRecord]:
    return {
        "minio": ServiceRecord(
            "minio",
            endpoints={"url": "http://127.0.0.1:9100"},
            credentials={"access_key": "a", "secret_key": "s"},
        ),
        "kafka": ServiceRecord("kafka", endpoints={"bootstrap": "127.0.0.1:9192"}),
        "clickhouse": ServiceRecord("clickhouse", endpoints={"dsn": "chdb:///tmp/x"}),
        "postgres": ServiceRecord(
            "postgres",
            endpoints={"host": "127.0.0.1", "port": 54321, "database": "bank"},
            credentials={"user": "fraudlake", "password": "pw", "dsn": "postgresql://…"},
        ),
    }


def test_the_bank_is_a_source_whose_connector_resolves_from_the_demo_secret() -> None:
    stack = records()
    docs = bank.with_bank_source(local_manifests(stack), stack["postgres"])
    pipeline = pipeline_of(docs)
    assert bank.cdc_topics(pipeline) == [
        "fraudlake.fraud.demo.cdc.bank.public.users",
        "fraudlake.fraud.demo.cdc.bank.public.cards",
    ]
    assert bank.cards_topic(pipeline) == "fraudlake.fraud.demo.cdc.bank.public.cards"

    # The operator's connector refers to the Secret; local Strimzi resolves it as it does the lake's keys.
    secrets = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d["stringData"]
        for d in docs
        if d["kind"] == "Secret"
    }
    parsed = pipeline_from(pipeline | {"metadata": {**pipeline["metadata"], "generation": 1}})
    (source,) = parsed.spec.sources
    connector = source_connector_manifest(parsed, source)
    assert connector["metadata"]["namespace"] == "kafka"

    def read_secret(namespace: str, name: str, key: str) -> str:
        return str(secrets[(namespace, name)][key])

    config = resolve_secret_refs(connector["spec"]["config"], read_secret)
    assert (config["database.hostname"], config["database.port"], config["database.dbname"]) == (
        "127.0.0.1",
        "54321",
        "bank",
    )
    assert (config["database.user"], config["database.password"]) == ("fraudlake", "pw")


def test_the_scorer_gets_the_cdc_topics_the_operator_would_set() -> None:
    stack = records()
    pipeline = pipeline_of(bank.with_bank_source(local_manifests(stack), stack["postgres"]))
    env = scorer_environment(stack, pipeline)
    assert env["FRAUDLAKE_SCORER_CDC_TOPICS"] == ",".join(bank.cdc_topics(pipeline))
    without = pipeline_of(local_manifests(stack))
    assert scorer_environment(stack, without)["FRAUDLAKE_SCORER_CDC_TOPICS"] == ""


def test_the_blocked_card_is_the_busiest_one_in_use_on_both_sides_of_the_block() -> None:
    # c1 transacts only after the split, c2 twice after and once before, c3 once on each side.
    cards = ["c2", "c3", "c4", "c1", "c1", "c1", "c2", "c3", "c2"]
    assert bank.pick_card(cards, 3) == "c2"
    with pytest.raises(ValueError, match="no card"):
        bank.pick_card(["a", "b", "c"], 1)


class FakeBankDatabase:
    blocked: ClassVar[list[str]] = []

    def __init__(self, dsn: str) -> None:
        pass

    def __enter__(self) -> FakeBankDatabase:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def block_card(self, card_id: str) -> None:
        self.blocked.append(card_id)


def test_the_card_is_blocked_once_the_share_is_sent_and_later_counts_what_follows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("fraudlake.producer.bank_db.BankDatabase", FakeBankDatabase)
    cards = ["x", "y", "x", "z", "x", "y", "x", "x", "z", "y"]
    table = pa.table({"card_id": cards, "txn_id": [f"t{i}" for i in range(len(cards))]})
    block = bank.CardBlock("postgresql://bank", count=len(cards))  # blocks after 3 sent
    block.table(table, 0)
    assert block.card_id == "x"
    block.sent(2)
    assert block.blocked_at is None
    block.sent(5)  # the sender's chunk ended past the split: what was produced so far came before
    block.sent(8)
    assert FakeBankDatabase.blocked == ["x"]
    assert block.block_seq == 5
    assert block.later == {"t6", "t7"}


def test_the_summary_says_which_card_when_how_many_were_declined_and_how_fast() -> None:
    out = io.StringIO()
    outcome: dict[str, Any] = {
        "card_id": "12-1",
        "blocked_at": "2026-12-06T03:10:00.123+00:00",
        "later_transactions": 6,
        "later_decided": 6,
        "declined_card_status": 6,
        "not_declined_after_first": 0,
        "first_decline_s": 1.234,
        "first_declined_produced_s": 1.1,
        "clickhouse_status": "blocked",
        "clickhouse_rows": {"bank_users": 336, "bank_cards": 1009},
    }
    print_card_block(Console(file=out, width=200), outcome, {"users": 336, "cards": 1009})
    text = out.getvalue()
    assert "12-1 at 2026-12-06T03:10:00.123 UTC" in text
    assert "6: declined by the card status rule 6" in text
    assert "1.23 s (that transaction was sent +1.10 s)" in text
    assert "bank_users 336, bank_cards 1,009; card 12-1: blocked" in text
