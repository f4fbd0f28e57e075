"""Pure parts of the lake load: object names, column mapping, batch planning, intervals, quality band."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fraudlake.lake.layout import UnexpectedObjectNameError, parse_object
from fraudlake.lake.ledger import FAILED, LOADED, LOADING, OffsetRange, strongest
from fraudlake.lake.loader import ObjectProfile, plan_batches
from fraudlake.lake.quality import DataQualityError, QualityRules
from fraudlake.lake.runtime import Interval, LakePipeline
from fraudlake.lake.store import LakeStore
from fraudlake.lake.targets import TARGETS, target_for
from fraudlake.schemas import TRANSACTIONS

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TOPIC = "fraudlake.ns.demo.transactions"


def obj(partition: int, start: int, topic: str = TOPIC):
    key = f"lake/raw/{topic}/{partition:010d}-{start:020d}.parquet"
    parsed = parse_object("lake", key, '"etag"', 10, NOW)
    assert parsed is not None
    return parsed


def profile(first: int, last: int, partition: int = 0) -> ObjectProfile:
    rows = last - first + 1
    return ObjectProfile(rows, rows, OffsetRange(partition, first, last), 0, 0)


def test_object_names_carry_topic_partition_and_start_offset() -> None:
    parsed = obj(3, 1200)
    assert (parsed.topic, parsed.partition, parsed.start_offset, parsed.etag) == (TOPIC, 3, 1200, "etag")
    assert parsed.file_name == "0000000003-00000000000000001200.parquet"
    assert parse_object("lake", "lake/raw/t/notes.txt", "e", 1, NOW) is None
    assert parse_object("other/raw/t/0-0.parquet", "lake/raw/t/0-0.parquet", "e", 1, NOW) is None
    with pytest.raises(UnexpectedObjectNameError, match=r"garbage\.parquet"):
        parse_object("lake", "lake/raw/t/garbage.parquet", "e", 1, NOW)


def test_transactions_map_every_schema_field_from_the_value_group() -> None:
    target = TARGETS["transactions"]
    assert target.columns() == TRANSACTIONS.names
    assert target.select_expressions()[0] == "value.txn_id"
    assert target.identity_expressions() == ["value.txn_id"]
    cards = TARGETS["cards"]
    assert cards.columns()[-1] == "version"
    assert cards.identity_expressions() == ["value.card_id", "toUInt64(timestamp)"]
    assert target_for("fraudlake.ns.demo.alerts") is None
    assert "isNull(value.txn_id)" in target.null_key_condition()


def test_overlapping_objects_never_share_a_batch() -> None:
    a, b, c, d = obj(0, 0), obj(0, 100), obj(0, 50), obj(1, 0)
    profiles = {
        a.key: profile(0, 99),
        b.key: profile(100, 149),
        c.key: profile(50, 149),  # a replay re-cut: overlaps a and b
        d.key: profile(0, 99, partition=1),  # same offsets, other partition: no clash
    }
    batches = plan_batches([a, b, c, d], profiles, max_objects=10, max_rows=10_000)
    assert [[o.key for o in batch] for batch in batches] == [[a.key, b.key, d.key], [c.key]]


def test_batches_respect_object_and_row_limits() -> None:
    objects = [obj(0, i * 10) for i in range(5)]
    profiles = {o.key: profile(o.start_offset, o.start_offset + 9) for o in objects}
    assert [len(b) for b in plan_batches(objects, profiles, max_objects=2, max_rows=10_000)] == [2, 2, 1]
    assert [len(b) for b in plan_batches(objects, profiles, max_objects=10, max_rows=25)] == [3, 2]


def test_ledger_state_is_the_strongest_status() -> None:
    assert strongest([LOADING, LOADED]) == LOADED
    assert strongest([FAILED, LOADING]) == LOADING
    assert strongest([FAILED]) == FAILED
    assert OffsetRange(0, 0, 10).overlaps(OffsetRange(0, 10, 20))
    assert not OffsetRange(0, 0, 10).overlaps(OffsetRange(1, 0, 10))
    assert not OffsetRange(0, 0, 9).overlaps(OffsetRange(0, 10, 20))


def test_interval_comes_from_the_run_or_its_conf() -> None:
    later = datetime(2026, 1, 1, 0, 15, tzinfo=UTC)
    assert Interval.of_run(NOW, later, {}) == Interval(NOW, later)
    conf = {"interval_start": "2026-02-01T00:00:00+00:00", "interval_end": "2026-02-01T01:00:00+00:00"}
    assert Interval.of_run(NOW, later, conf).start == datetime(2026, 2, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="start < end"):
        Interval.of_run(later, NOW, None)


def test_fraud_rate_band() -> None:
    rules = QualityRules(max_fraud_rate=0.05, min_fraud_rate=0.0001, min_rows_for_min_rate=1000)
    rules.check_fraud_rate(0, 999, "small load")  # too small to judge a missing label
    rules.check_fraud_rate(2, 1000, "normal load")
    with pytest.raises(DataQualityError, match="above"):
        rules.check_fraud_rate(600, 1000, "inverted labels")
    with pytest.raises(DataQualityError, match="below"):
        rules.check_fraud_rate(0, 5000, "no labels")


def test_store_urls_are_path_style_and_secrets_stay_out_of_repr() -> None:
    store = LakeStore("lake", "p", endpoint_url="http://127.0.0.1:9000/", access_key="k", secret_key="s3cr3t")
    assert store.object_url("p/raw/t/0-0.parquet") == "http://127.0.0.1:9000/lake/p/raw/t/0-0.parquet"
    assert store.s3_table_function("http://h/b/k") == "s3('http://h/b/k', 'k', 's3cr3t', 'Parquet')"
    assert "s3cr3t" not in repr(store)
    aws = LakeStore("lake", "p", region="eu-west-1")
    assert (
        aws.s3_table_function(aws.object_url("k"))
        == "s3('https://s3.eu-west-1.amazonaws.com/lake/k', 'Parquet')"
    )


def test_pipeline_loads_the_sink_topics_that_have_tables() -> None:
    pipeline = LakePipeline("ns", "demo", "lake", "p", "fraud_demo")
    assert pipeline.topics() == [
        "fraudlake.ns.demo.transactions",
        "fraudlake.ns.demo.cards",
        "fraudlake.ns.demo.users",
    ]
