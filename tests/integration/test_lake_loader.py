"""The lake loader against real MinIO and ClickHouse (chDB), with objects shaped like the sink's.

These cover what the connector only does under rare timing (re-cut and rewritten objects after a
crash), a loader that dies between insert and ledger, the data-quality refusals, and the sweep
that loads what earlier intervals left behind. The full produce → Connect → DAG path is in
test_lake.py.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from clickhouse_connect.driver.exceptions import OperationalError
from lake_kit import (
    TOPIC_ID,
    create_database,
    minio_store,
    new_name,
    object_key,
    put,
    sink_parquet,
    synthetic_transactions,
)

from fraudlake.clickhouse.client import connect
from fraudlake.lake.fingerprint import TxnFingerprint
from fraudlake.lake.layout import LakeObject
from fraudlake.lake.ledger import (
    FAILED,
    LOADED,
    LOADING,
    UNSETTLED,
    Ledger,
    LedgerEntry,
    OffsetRange,
    RunInfo,
)
from fraudlake.lake.loader import LakeLoader, LakeLoadFailedError, LoadReport
from fraudlake.lake.store import LakeStore
from fraudlake.lake.sweep import LakeSweep, Listing, SweepBounds, Watermarks
from fraudlake.lake.targets import TARGETS
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.schemas import CARDS

pytestmark = pytest.mark.integration

ROWS = 2_000
PER_OBJECT = 500
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Lake:
    """One test's pipeline: its own prefix, database and topics."""

    def __init__(self, minio: ServiceRecord, dsn: str) -> None:
        self.dsn = dsn
        self.database = new_name("db")
        self.store: LakeStore = minio_store(minio, "lake-loader-tests", new_name("p"))
        self.topic = f"fraudlake.ns.{new_name('pl')}.transactions"
        create_database(dsn, self.database)
        self.client = connect(dsn)

    def with_topic(self, topic: str) -> Lake:
        """The same lake and database, another topic."""
        other = Lake.__new__(Lake)
        other.__dict__.update(self.__dict__, topic=topic)
        return other

    def put_transactions(
        self, table: pa.Table, first_offset: int, partition: int = 0, topic_id: str = TOPIC_ID
    ) -> str:
        key = object_key(self.store, self.topic, partition, first_offset, topic_id)
        put(self.store, key, sink_parquet(table, first_offset))
        return key

    def objects(self, topic: str | None = None) -> list[LakeObject]:
        return self.store.list_objects([topic or self.topic], EPOCH, datetime.now(UTC) + timedelta(seconds=5))

    def loader(self, run_id: str = "test") -> LakeLoader:
        return LakeLoader(self.client, self.database, self.store, RunInfo(run_id, EPOCH, datetime.now(UTC)))

    def sweep(self, bounds: SweepBounds | None = None) -> LakeSweep:
        return LakeSweep(self.client, self.database, self.store, bounds)

    def run(
        self, start: datetime, end: datetime, bounds: SweepBounds, loader: LakeLoader | None = None
    ) -> tuple[Listing, LoadReport]:
        """What one DAG run of [start, end) does: list (the moment after `end`), then load."""
        sweep = self.sweep(bounds)
        listing = sweep.list([self.topic], start, end, now=end + timedelta(seconds=1))
        return listing, sweep.load(listing, RunInfo(f"run-{start:%H%M%S}", start, end), loader)

    def watermark(self) -> datetime | None:
        return Watermarks(self.client, self.database).latest([self.topic]).get(self.topic)

    def fingerprint(self) -> TxnFingerprint:
        return TxnFingerprint.of_table(self.client, self.database)

    def states(self) -> dict[str, str]:
        objects = self.objects()
        states = Ledger(self.client, self.database).states(objects)
        return {obj.file_name: states.get((obj.key, obj.etag), "") for obj in objects}


@pytest.fixture
def lake(minio: ServiceRecord, clickhouse: ServiceRecord) -> Lake:
    return Lake(minio, clickhouse.endpoints["dsn"])


@pytest.fixture(scope="module")
def transactions() -> pa.Table:
    return synthetic_transactions(ROWS)


def expected(table: pa.Table) -> TxnFingerprint:
    return TxnFingerprint.of_ids(table.column("txn_id").to_pylist())


def put_in_objects(lake: Lake, table: pa.Table, per_object: int = PER_OBJECT) -> None:
    for first in range(0, table.num_rows, per_object):
        lake.put_transactions(table.slice(first, per_object), first)


def insert_rows_before(lake: Lake, key: str, offset: int) -> None:
    """What a death in the middle of a multi-part insert leaves in the table: the object's rows
    below `offset`, inserted as the loader would."""
    source = lake.store.s3_table_function(lake.store.object_url(key))
    target = TARGETS["transactions"]
    lake.client.command(
        f"INSERT INTO {lake.database}.transactions ({', '.join(target.columns())}) "
        f"SELECT {', '.join(target.select_expressions())} FROM {source} WHERE offset < {offset}",
        settings={"use_structure_from_insertion_table_in_table_functions": 0},
    )


def test_objects_load_once_however_often_the_loader_runs(lake: Lake, transactions: pa.Table) -> None:
    put_in_objects(lake, transactions)
    report = lake.loader().load(lake.objects())
    assert (report.rows, len(report.loaded), report.skipped_rows) == (ROWS, ROWS // PER_OBJECT, 0)
    for _ in range(2):
        again = lake.loader().load(lake.objects())
        assert (again.rows, again.already_loaded) == (0, ROWS // PER_OBJECT)
    assert lake.fingerprint() == expected(transactions)
    assert set(lake.states().values()) == {LOADED}


def test_recut_and_rewritten_objects_after_a_sink_replay_add_only_new_offsets(
    lake: Lake, transactions: pa.Table
) -> None:
    put_in_objects(lake, transactions.slice(0, 1500))  # objects at 0, 500, 1000
    lake.loader().load(lake.objects())
    # The worker died before committing 1000…: its replay re-cuts from 1000 with more records,
    # rewriting the object at 1000 (new etag) and writing one at 1800 that overlaps nothing.
    lake.put_transactions(transactions.slice(1000, 800), 1000)
    lake.put_transactions(transactions.slice(1800, 200), 1800)
    # An object of the earlier attempt that the replay cut differently (1200…1499, stale).
    lake.put_transactions(transactions.slice(1200, 300), 1200)
    report = lake.loader().load(lake.objects())
    assert report.rows == 500  # 1500…1999: everything else was there already
    assert report.skipped_rows == 500 + 300  # 1000…1499 of the rewrite, all of the stale object
    assert lake.fingerprint() == expected(transactions)


def test_a_loader_that_died_between_insert_and_ledger_is_recovered_row_by_row(
    lake: Lake, transactions: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_in_objects(lake, transactions)
    crashing = lake.loader("crashed")
    real_record = crashing.ledger.record

    def die_before_loaded(entries: list[LedgerEntry], run: RunInfo) -> None:
        if any(entry.status == LOADED for entry in entries):
            raise KeyboardInterrupt("process killed after the insert, before the ledger write")
        real_record(entries, run)

    monkeypatch.setattr(crashing.ledger, "record", die_before_loaded)
    with pytest.raises(KeyboardInterrupt):
        crashing.load(lake.objects())
    assert set(lake.states().values()) == {LOADING}
    assert lake.fingerprint() == expected(transactions)  # the rows went in, the ledger missed it

    report = lake.loader("recovery").load(lake.objects())
    assert (report.rows, report.skipped_rows) == (0, ROWS)
    assert set(lake.states().values()) == {LOADED}
    assert lake.fingerprint() == expected(transactions)


def test_a_partly_inserted_object_gets_exactly_its_missing_rows(lake: Lake, transactions: pa.Table) -> None:
    key = lake.put_transactions(transactions.slice(0, PER_OBJECT), 0)
    (obj,) = lake.objects()
    # What a death in the middle of a multi-part insert leaves: the intent and some of the rows.
    Ledger(lake.client, lake.database).record(
        [LedgerEntry(obj, "transactions", LOADING, OffsetRange(0, 0, PER_OBJECT - 1), PER_OBJECT)],
        RunInfo("died", EPOCH, datetime.now(UTC)),
    )
    insert_rows_before(lake, key, 123)
    report = lake.loader().load(lake.objects())
    assert (report.rows, report.skipped_rows) == (PER_OBJECT - 123, 123)
    assert lake.fingerprint() == expected(transactions.slice(0, PER_OBJECT))


def test_a_corrupt_object_fails_by_name_and_blocks_nothing_else(lake: Lake, transactions: pa.Table) -> None:
    put_in_objects(lake, transactions.slice(0, 1000))
    bad_key = object_key(lake.store, lake.topic, 0, 1000)
    put(lake.store, bad_key, sink_parquet(transactions.slice(1000, 500), 1000)[:-100])  # truncated
    garbage_key = object_key(lake.store, lake.topic, 1, 0)
    put(lake.store, garbage_key, b"not parquet at all " * 50)

    with pytest.raises(LakeLoadFailedError) as failure:
        lake.loader().load(lake.objects())
    assert bad_key in str(failure.value)
    assert garbage_key in str(failure.value)
    assert set(failure.value.report.failed) == {bad_key, garbage_key}
    assert lake.fingerprint() == expected(transactions.slice(0, 1000))  # the good ones loaded

    lake.put_transactions(transactions.slice(1500, 500), 1500)  # new data keeps flowing
    with pytest.raises(LakeLoadFailedError) as again:
        lake.loader().load(lake.objects())
    assert set(again.value.report.failed) == {bad_key, garbage_key}
    assert again.value.report.rows == 500
    assert lake.fingerprint() == expected(
        pa.concat_tables([transactions.slice(0, 1000), transactions.slice(1500)])
    )
    states = lake.states()
    assert states[bad_key.rsplit("/", 1)[1]] == FAILED


def test_null_keys_and_implausible_fraud_rates_are_refused(lake: Lake, transactions: pa.Table) -> None:
    nulled = transactions.slice(0, 100).set_column(
        0, "txn_id", pc.if_else(pc.equal(pa.array(range(100)), 7), "", transactions.slice(0, 100)["txn_id"])
    )
    null_key = lake.put_transactions(nulled, 0)
    with pytest.raises(LakeLoadFailedError, match="1 row\\(s\\) with a null or empty key") as failure:
        lake.loader().load(lake.objects())
    assert null_key in str(failure.value)
    assert lake.fingerprint().rows == 0

    other = lake.with_topic(lake.topic.replace(".transactions", "x.transactions"))
    inverted = transactions.slice(0, 100).set_column(
        transactions.schema.get_field_index("is_fraud"), "is_fraud", pa.array([True] * 100)
    )
    other.put_transactions(inverted, 0)
    with pytest.raises(LakeLoadFailedError, match=r"fraud rate 100\.0000%"):
        other.loader().load(other.objects())
    assert lake.fingerprint().rows == 0


def test_cards_load_with_the_kafka_timestamp_as_version(lake: Lake) -> None:
    topic = lake.topic.replace(".transactions", ".cards")
    cards = pa.table(
        {
            "card_id": ["0-0", "0-1"],
            "user_id": ["0", "0"],
            "card_token": ["tok_a", "tok_b"],
            "card_last4": ["1234", "5678"],
            "user": pa.array([0, 0], pa.int32()),
            "card_index": pa.array([0, 1], pa.int32()),
            "card_brand": ["Visa", "Amex"],
            "card_type": ["Debit", "Credit"],
            "expires": ["12/2030", "01/2031"],
            "has_chip": [True, False],
            "cards_issued": pa.array([1, 2], pa.int32()),
            "credit_limit": [1000.0, 2500.0],
            "acct_open_date": ["01/2010", "02/2012"],
            "year_pin_last_changed": pa.array([2015, 2016], pa.int32()),
            "card_on_dark_web": [False, False],
        }
    )
    key = object_key(lake.store, topic, 0, 40)
    put(lake.store, key, sink_parquet(cards, 40, CARDS))
    for _ in range(2):
        lake.loader().load(lake.objects(topic))
    rows = lake.client.query(
        f"SELECT card_id, card_brand, version FROM {lake.database}.cards ORDER BY card_id"
    )
    assert rows.result_rows == [("0-0", "Visa", 1_700_000_000_040), ("0-1", "Amex", 1_700_000_000_041)]


@pytest.mark.parametrize("ledger_engine", ["MergeTree", "ReplacingMergeTree(loaded_at)"])
def test_a_failed_partial_load_is_never_repeated_even_after_the_ledger_merges(
    lake: Lake, transactions: pa.Table, ledger_engine: str
) -> None:
    """A load that died mid-insert and was then recorded `failed`: with the ledger of databases
    created before it was append-only (ReplacingMergeTree by key + etag), OPTIMIZE keeps only the
    `failed` row. The next run must still anti-join against the table (exact path), not re-insert."""
    ledger = f"{lake.database}.load_ledger"
    if ledger_engine != "MergeTree":
        lake.client.command(f"RENAME TABLE {ledger} TO {ledger}_append_only")
        old_shape = f"ENGINE = {ledger_engine} ORDER BY (object_key, etag)"
        lake.client.command(f"CREATE TABLE {ledger} AS {ledger}_append_only {old_shape}")
    key = lake.put_transactions(transactions.slice(0, PER_OBJECT), 0)
    (obj,) = lake.objects()
    died = RunInfo("died", EPOCH, datetime.now(UTC))
    offsets = OffsetRange(0, 0, PER_OBJECT - 1)
    Ledger(lake.client, lake.database).record(
        [LedgerEntry(obj, "transactions", LOADING, offsets, PER_OBJECT)], died
    )
    insert_rows_before(lake, key, 200)
    Ledger(lake.client, lake.database).record(
        [LedgerEntry(obj, "transactions", FAILED, offsets, error="connection reset mid-insert")], died
    )
    lake.client.command(f"OPTIMIZE TABLE {ledger} FINAL")

    report = lake.loader().load(lake.objects())

    assert (report.rows, report.skipped_rows) == (PER_OBJECT - 200, 200)
    assert lake.fingerprint() == expected(transactions.slice(0, PER_OBJECT))
    assert set(lake.states().values()) == {LOADED}


# --- the sweep: every object not loaded, whatever interval it was written in --------------------

SECOND = timedelta(seconds=1)


def written(lake: Lake, key: str) -> datetime:
    """The object's Last-Modified as the store lists it."""
    return next(obj.last_modified for obj in lake.objects() if obj.key == key)


def test_objects_of_intervals_whose_run_never_happened_or_failed_are_swept_in_by_a_later_run(
    lake: Lake, transactions: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = transactions.slice(0, PER_OBJECT), transactions.slice(PER_OBJECT, PER_OBJECT)
    a = written(lake, lake.put_transactions(first, 0))
    bounds = SweepBounds(lookback=timedelta(days=1), overlap=SECOND)

    # The run of the interval before the object: nothing to load, the watermark moves to its end.
    lake.run(a - 20 * SECOND, a - 10 * SECOND, bounds)
    assert lake.watermark() == a - 10 * SECOND
    # The object's interval never gets a run (scheduler down); the next one sweeps it in.
    listing, report = lake.run(a + 10 * SECOND, a + 20 * SECOND, bounds)
    assert ([obj.last_modified for obj in listing.objects], listing.swept) == ([a], 1)
    assert (report.rows, len(report.loaded)) == (PER_OBJECT, 1)
    assert lake.fingerprint() == expected(first)
    assert lake.watermark() == a + 20 * SECOND

    # The next object's run fails mid-insert (ClickHouse went away): the object is `failed`, and
    # it holds the watermark, so a later run that lists none of that interval still retries it.
    b = written(lake, lake.put_transactions(second, PER_OBJECT))
    failing = lake.loader("failed")

    def connection_lost(target: object, insert: str) -> int:
        raise OperationalError("connection reset by peer mid-insert")

    monkeypatch.setattr(failing, "_insert_counted", connection_lost)
    with pytest.raises(LakeLoadFailedError, match="connection reset"):
        lake.run(b - SECOND, b + SECOND, bounds, loader=failing)
    assert lake.states()[object_key(lake.store, lake.topic, 0, PER_OBJECT).rsplit("/", 1)[1]] in UNSETTLED
    assert lake.watermark() == b
    listing, report = lake.run(b + 30 * SECOND, b + 40 * SECOND, bounds)
    assert ([obj.last_modified for obj in listing.objects], listing.swept) == ([b], 1)
    assert report.rows == PER_OBJECT
    assert lake.fingerprint() == expected(pa.concat_tables([first, second]))
    assert set(lake.states().values()) == {LOADED}
    assert lake.watermark() == b + 40 * SECOND


def test_sweeps_that_overlap_load_nothing_twice(lake: Lake, transactions: pa.Table) -> None:
    put_in_objects(lake, transactions)
    last = max(obj.last_modified for obj in lake.objects())
    wide = SweepBounds(lookback=timedelta(days=1), overlap=timedelta(hours=12))
    sweep = lake.sweep(wide)
    # Two runs list before either loads (a retried list task, a manual run beside a scheduled one).
    listings = [sweep.list([lake.topic], last + SECOND, last + 2 * SECOND) for _ in range(2)]
    assert [len(listing.objects) for listing in listings] == [ROWS // PER_OBJECT] * 2
    run = RunInfo("overlap", last + SECOND, last + 2 * SECOND)
    assert sweep.load(listings[0], run).rows == ROWS
    again = sweep.load(listings[1], run)
    assert (again.rows, again.already_loaded) == (0, ROWS // PER_OBJECT)
    # Later runs whose overlap covers all of it, and an explicit window over everything.
    for start in (last + 2 * SECOND, last + 3 * SECOND):
        listing, report = lake.run(start, start + SECOND, wide)
        assert (listing.objects, report.rows) == ([], 0)
    lake.run(EPOCH, last + 10 * SECOND, wide)
    assert lake.fingerprint() == expected(transactions)  # count, distinct count and checksum of txn_ids


def test_the_sweep_stops_at_the_lookback_and_the_watermark(
    lake: Lake, transactions: pa.Table, caplog: pytest.LogCaptureFixture
) -> None:
    table = transactions.slice(0, PER_OBJECT)
    a = written(lake, lake.put_transactions(table, 0))

    short = SweepBounds(lookback=5 * SECOND, overlap=SECOND)
    # A first run reaches back `lookback` from its interval's end, not further.
    listing, _ = lake.run(a + 10 * SECOND, a + 12 * SECOND, short)
    assert (listing.objects, listing.windows[0].start) == ([], a + 7 * SECOND)
    assert lake.watermark() == a + 12 * SECOND
    # With a watermark, a run reaches back to it minus the overlap, however long its lookback.
    listing, _ = lake.run(a + 20 * SECOND, a + 22 * SECOND, SweepBounds(timedelta(days=1), 2 * SECOND))
    assert (listing.objects, listing.windows[0].start) == ([], a + 10 * SECOND)
    assert lake.fingerprint().rows == 0

    # A watermark older than the lookback (the object failed for longer): the lookback wins and
    # the run says how many objects it no longer sweeps.
    Watermarks(lake.client, lake.database).record(
        [{"topic": lake.topic, "watermark": a - SECOND, "listed_from": EPOCH, "listed_to": a,
          "pending": 1, "swept": 0, "dag_run_id": "stuck"}]
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraudlake.lake.sweep"):
        listing, _ = lake.run(a + 40 * SECOND, a + 42 * SECOND, short)
    assert (listing.objects, listing.windows[0].start) == ([], a + 37 * SECOND)
    assert "1 object(s) last written between" in caplog.text
    assert "no longer swept" in caplog.text
    assert lake.fingerprint().rows == 0

    # An explicit interval is listed whole, however far behind the lookback.
    listing, report = lake.run(a - SECOND, a + SECOND, short)
    assert (len(listing.objects), listing.swept, report.rows) == (1, 0, PER_OBJECT)
    assert lake.fingerprint() == expected(table)


def test_a_database_without_the_watermark_table_sweeps_the_lookback(
    lake: Lake, transactions: pa.Table, caplog: pytest.LogCaptureFixture
) -> None:
    """Airflow may run the new loader before the operator has migrated the pipeline's database."""
    lake.client.command(f"DROP TABLE {lake.database}.load_watermark")
    table = transactions.slice(0, PER_OBJECT)
    a = written(lake, lake.put_transactions(table, 0))
    bounds = SweepBounds(lookback=timedelta(hours=1), overlap=SECOND)
    with caplog.at_level(logging.WARNING, logger="fraudlake.lake.sweep"):
        listing, report = lake.run(a + 10 * SECOND, a + 20 * SECOND, bounds)
    assert (listing.swept, report.rows) == (1, PER_OBJECT)
    assert "load_watermark does not exist" in caplog.text
    assert lake.fingerprint() == expected(table)


# --- topic incarnations, and skipping that is checked --------------------------------------------

RECREATED_ID = "AAAAAAAAAAAAAAAAAAAAAg"  # the topic's id after it was deleted and created again


def test_a_recreated_topics_objects_from_offset_0_load_beside_the_old_ones(
    lake: Lake, transactions: pa.Table
) -> None:
    """The recreated topic restarts at offset 0; under its new topic id its objects are new objects
    and its offsets are not the old topic's, so every new row loads."""
    old, new = transactions.slice(0, 1000), transactions.slice(1000, 1000)
    put_in_objects(lake, old)  # offsets 0…999 of the old incarnation
    assert lake.loader().load(lake.objects()).rows == 1000
    for first in range(0, 1000, PER_OBJECT):
        lake.put_transactions(new.slice(first, PER_OBJECT), first, topic_id=RECREATED_ID)
    report = lake.loader().load(lake.objects())
    assert (report.rows, report.skipped_rows, report.already_loaded) == (1000, 0, 1000 // PER_OBJECT)
    assert lake.fingerprint() == expected(transactions)
    ledger = lake.client.query(
        f"SELECT topic_id, sum(rows) FROM {lake.database}.load_ledger WHERE status = 'loaded' "
        "GROUP BY topic_id ORDER BY topic_id"
    ).result_rows
    assert ledger == [(TOPIC_ID, 1000), (RECREATED_ID, 1000)]


def test_rows_the_ledger_counts_as_loaded_but_the_table_lacks_fail_the_load_by_name(
    lake: Lake, transactions: pa.Table
) -> None:
    """A recreated topic whose objects land under the old incarnation (a sink not told the new id)
    rewrites offset 0 with other rows: they are not skipped as loaded, the load fails naming the
    object, and nothing of it goes in."""
    old, new = transactions.slice(0, PER_OBJECT), transactions.slice(PER_OBJECT, PER_OBJECT)
    lake.put_transactions(old, 0)
    lake.loader().load(lake.objects())
    key = lake.put_transactions(new, 0)  # same key, new etag, other transactions
    with pytest.raises(LakeLoadFailedError) as failed:
        lake.loader().load(lake.objects())
    assert list(failed.value.report.failed) == [key]
    assert "are not in transactions" in failed.value.report.failed[key]
    assert key in str(failed.value)
    assert lake.fingerprint() == expected(old)  # nothing of the rewritten object went in
    assert lake.states() == {key.rsplit("/", 1)[1]: FAILED}
    with pytest.raises(LakeLoadFailedError):  # and it stays loud on the next run
        lake.loader().load(lake.objects())


def test_an_object_the_ledger_has_as_loaded_fails_by_name_when_its_rows_left_the_table(
    lake: Lake, transactions: pa.Table
) -> None:
    put_in_objects(lake, transactions.slice(0, 2 * PER_OBJECT))
    lake.loader().load(lake.objects())
    gone = transactions.column("txn_id").to_pylist()[:10]  # ten rows of the object at offset 0
    lake.client.command(
        f"DELETE FROM {lake.database}.transactions WHERE txn_id IN {{ids:Array(String)}}",
        parameters={"ids": gone},
    )
    with pytest.raises(LakeLoadFailedError) as failed:
        lake.loader().load(lake.objects())
    (key,) = failed.value.report.failed
    assert key == object_key(lake.store, lake.topic, 0, 0)
    assert "10 of its 500 rows are not in transactions" in failed.value.report.failed[key]
    assert failed.value.report.already_loaded == 1  # the untouched object is checked and skipped
