"""Load the lake's Parquet objects into the pipeline's ClickHouse tables exactly once.

ClickHouse reads the objects itself (``INSERT INTO … SELECT … FROM s3(…)``); this module decides
which rows to insert and proves afterwards that exactly those arrived.

Why rows cannot be loaded twice, whatever the sink, the scheduler or a crash did:

- Every row carries its Kafka position: the partition is in the object's name, the offset a
  Parquet column. A Kafka record has one position, so "was this record loaded?" is "is its
  position inside the offset range of an object the ledger marks ``loaded``?".
- Objects the ledger already has as loaded (same key and etag) are skipped outright: reruns and
  overlapping intervals cost a listing and one ledger query.
- An object whose positions overlap loaded ones (the sink re-cut or rewrote files after a worker
  crash) is inserted with those positions filtered out.
- The ledger gets ``loading`` before the insert and ``loaded`` after it. An object left at
  ``loading`` (the process died in between) may be partly in the table, so it, and anything
  overlapping it, is loaded by the slow exact path: an anti-join on the table's identity columns.
- After each insert the table's row count must have grown by exactly the rows selected (the
  Parquet row count minus rows already loaded), otherwise the load fails loudly.
- Positions are per topic incarnation (the Kafka topic id in the object's name,
  `fraudlake.lake.layout`): a recreated topic's offset 0 is not the old topic's offset 0.
- Skipping is checked, never trusted: rows skipped as already loaded (whole objects the ledger has
  as ``loaded``, and rows inside loaded offset ranges) must be in the table, by identity. If they
  are not, the ledger and the table disagree (say a topic recreated without a new incarnation in
  the object names): the object fails by name with SkippedRowsMissingError and nothing of it loads.

A corrupt object fails on its own: it is recorded as ``failed`` with the reason, every other object
still loads, and the load then raises naming it. Nothing loaded before is touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from fraudlake.clickhouse.migrations import sql_string
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
from fraudlake.lake.quality import (
    CorruptObjectError,
    DataQualityError,
    LakeLoadError,
    QualityRules,
    SkippedRowsMissingError,
)
from fraudlake.lake.store import LakeStore
from fraudlake.lake.targets import OFFSET, VALUE, LoadTarget, target_for

# Bounds of one INSERT: big enough that ClickHouse streams at full speed, small enough that a
# failed batch is cheap to redo object by object.
BATCH_OBJECTS = 64
BATCH_ROWS = 2_000_000


@dataclass(frozen=True)
class ObjectProfile:
    """What one pass over an object's key columns says, checked before anything is inserted."""

    footer_rows: int  # num_rows in the Parquet footer
    rows: int  # rows actually decoded
    offsets: OffsetRange | None  # None for an object without rows
    null_keys: int
    fraud: int


@dataclass
class LoadReport:
    """What one `LakeLoader.load` call did; `as_xcom()` is its JSON-able summary."""

    loaded: list[str] = field(default_factory=list)
    rows: int = 0
    skipped_rows: int = 0
    already_loaded: int = 0
    ignored: int = 0
    rows_per_table: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed: dict[str, str] = field(default_factory=dict)

    def as_xcom(self) -> dict[str, object]:
        return {
            "loaded_objects": len(self.loaded),
            "rows": self.rows,
            "skipped_rows": self.skipped_rows,
            "already_loaded_objects": self.already_loaded,
            "ignored_objects": self.ignored,
            "rows_per_table": dict(self.rows_per_table),
            "failed": dict(self.failed),
        }


class LakeLoadFailedError(LakeLoadError):
    """Some objects could not be loaded (the others were); `report` says which and why."""

    def __init__(self, report: LoadReport) -> None:
        self.report = report
        reasons = "; ".join(f"{key}: {reason}" for key, reason in sorted(report.failed.items()))
        super().__init__(
            f"{len(report.failed)} lake object(s) not loaded ({len(report.loaded)} loaded, "
            f"{report.rows} rows): {reasons}"
        )


class LakeLoader:
    """Loads listed lake objects of one pipeline into its ClickHouse database."""

    def __init__(
        self,
        client: Client,
        database: str,
        store: LakeStore,
        run: RunInfo,
        rules: QualityRules | None = None,
        batch_objects: int = BATCH_OBJECTS,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.client = client
        self.database = database
        self.store = store
        self.run = run
        self.rules = rules or QualityRules()
        self.batch_objects = batch_objects
        self.batch_rows = batch_rows
        self.ledger = Ledger(client, database)

    def load(self, objects: Iterable[LakeObject]) -> LoadReport:
        """Load every object not yet loaded; raise LakeLoadFailedError at the end if any could not be."""
        report = LoadReport()
        by_topic: dict[tuple[str, str], list[LakeObject]] = defaultdict(list)
        for obj in objects:
            by_topic[obj.topic, obj.topic_id].append(obj)  # offsets compare only within an incarnation
        for (topic, _), topic_objects in by_topic.items():
            target = target_for(topic)
            if target is None:
                report.ignored += len(topic_objects)
                continue
            try:
                self._load_topic(target, topic_objects, report)
            except DataQualityError as exc:
                report.failed[topic] = str(exc)
        if report.failed:
            raise LakeLoadFailedError(report)
        return report

    # --- per topic ----------------------------------------------------------------------------

    def _load_topic(self, target: LoadTarget, objects: list[LakeObject], report: LoadReport) -> None:
        states = self.ledger.states(objects)
        todo: list[LakeObject] = []
        already: list[LakeObject] = []
        for obj in objects:
            (already if states.get((obj.key, obj.etag)) == LOADED else todo).append(obj)
        self._verify_already_loaded(target, already, report)
        profiles = self._profile_all(target, todo, report)
        readable = [obj for obj in todo if obj.key in profiles]
        if target.fraud_field:
            self.rules.check_fraud_rate(
                sum(profiles[o.key].fraud for o in readable),
                sum(profiles[o.key].rows for o in readable),
                f"{len(readable)} object(s) of {readable[0].topic if readable else target.stream}",
            )
        for batch in plan_batches(readable, profiles, self.batch_objects, self.batch_rows):
            self._load_batch(target, batch, profiles, states, report)

    def _profile_all(
        self, target: LoadTarget, objects: list[LakeObject], report: LoadReport
    ) -> dict[str, ObjectProfile]:
        """Profiles of the readable, clean objects; the others are recorded as failed."""
        profiles: dict[str, ObjectProfile] = {}
        for chunk in _chunks(objects, self.batch_objects):
            try:
                profiles.update(self._profile(target, chunk))
            except ClickHouseError:
                # One bad object fails the whole query: find it (them) object by object.
                for obj in chunk:
                    try:
                        profiles.update(self._profile(target, [obj]))
                    except ClickHouseError as exc:
                        error = CorruptObjectError(
                            f"cannot read s3://{self.store.bucket}/{obj.key}: {_short(exc)}"
                        )
                        self._fail(target, obj, error, report)  # unreadable: no offsets known
        clean = {}
        for obj in objects:
            profile = profiles.get(obj.key)
            if profile is None:
                continue
            problem = _profile_problem(obj, profile, self.store.bucket)
            if problem:
                self._fail(target, obj, DataQualityError(problem), report, profile)
            else:
                clean[obj.key] = profile
        return clean

    def _profile(self, target: LoadTarget, objects: Sequence[LakeObject]) -> dict[str, ObjectProfile]:
        source = self._source(objects)
        fraud = f"countIf({VALUE}.{target.fraud_field})" if target.fraud_field else "0"
        data = self.client.query(
            f"SELECT _file, count(), min({OFFSET}), max({OFFSET}), countIf({target.null_key_condition()}), "
            f"{fraud} FROM {source} GROUP BY _file"
        ).result_rows
        footer_source = self.store.s3_table_function(self._url(objects), "ParquetMetadata")
        footers: dict[str, int] = {
            str(name): int(rows)
            for name, rows in self.client.query(f"SELECT _file, num_rows FROM {footer_source}").result_rows
        }
        by_name = {obj.file_name: obj for obj in objects}
        profiles = {}
        for obj in objects:
            profiles[obj.key] = ObjectProfile(int(footers.get(obj.file_name, 0)), 0, None, 0, 0)
        for name, rows, first, last, null_keys, fraud_rows in data:
            obj = by_name[name]
            offsets = OffsetRange(obj.partition, int(first), int(last)) if rows else None
            profiles[obj.key] = ObjectProfile(
                int(footers.get(name, 0)), int(rows), offsets, int(null_keys), int(fraud_rows)
            )
        return profiles

    # --- per batch ----------------------------------------------------------------------------

    def _load_batch(
        self,
        target: LoadTarget,
        batch: list[LakeObject],
        profiles: dict[str, ObjectProfile],
        states: dict[tuple[str, str], str],
        report: LoadReport,
    ) -> None:
        ranges = self.ledger.ranges(batch[0].topic, batch[0].topic_id, {obj.partition for obj in batch})
        batch = self._verify_skipped_rows(target, batch, profiles, ranges[LOADED], report)
        if not batch:
            return
        exact: list[LakeObject] = []
        fast: list[LakeObject] = []
        for obj in batch:
            offsets = profiles[obj.key].offsets
            interrupted = states.get((obj.key, obj.etag)) in UNSETTLED or (
                offsets is not None and any(offsets.overlaps(r) for r in ranges[LOADING])
            )
            (exact if interrupted else fast).append(obj)
        self.ledger.record([self._entry(target, obj, profiles[obj.key], LOADING) for obj in batch], self.run)
        if fast:
            try:
                self._insert_fast(target, fast, profiles, ranges[LOADED], report)
            except ClickHouseError:
                # Part of the batch may be in: redo each object on the exact path, which
                # anti-joins against what the table holds and isolates an unreadable object.
                exact += fast
        for obj in exact:
            try:
                self._insert_exact(target, obj, profiles[obj.key], report)
            except ClickHouseError as exc:
                error = CorruptObjectError(f"cannot load s3://{self.store.bucket}/{obj.key}: {_short(exc)}")
                self._fail(target, obj, error, report, profiles[obj.key])

    def _insert_fast(
        self,
        target: LoadTarget,
        objects: list[LakeObject],
        profiles: dict[str, ObjectProfile],
        loaded_ranges: list[OffsetRange],
        report: LoadReport,
    ) -> None:
        """One INSERT for objects no interrupted attempt overlaps; loaded positions filtered out."""
        covered = {
            obj.file_name: [r for r in loaded_ranges if offsets.overlaps(r)]
            for obj in objects
            if (offsets := profiles[obj.key].offsets) is not None
        }
        covered = {name: ranges for name, ranges in covered.items() if ranges}
        skip = " OR ".join(
            f"(_file = {sql_string(name)} AND ({_in_ranges(ranges)}))" for name, ranges in covered.items()
        )
        skipped = self._count_where([o for o in objects if o.file_name in covered], skip) if skip else {}
        with_rows = [obj for obj in objects if profiles[obj.key].rows]
        added = 0
        if with_rows:
            where = f"WHERE NOT ({skip})" if skip else ""
            added = self._insert_counted(target, f"{self._select(target, with_rows)} {where}")
        expected = sum(profiles[o.key].rows - skipped.get(o.file_name, 0) for o in objects)
        if added != expected:
            raise DataQualityError(
                f"{target.table} grew by {added} rows, expected {expected} (Parquet rows minus rows already "
                f"loaded) from {', '.join(o.key for o in objects)}; they stay 'loading' and the next "
                "run re-checks them row by row"
            )
        self.ledger.record(
            [
                self._entry(
                    target, obj, profiles[obj.key], LOADED,
                    rows=profiles[obj.key].rows - skipped.get(obj.file_name, 0),
                    skipped=skipped.get(obj.file_name, 0),
                )
                for obj in objects
            ],
            self.run,
        )  # fmt: skip
        self._account(report, target, objects, added, sum(skipped.values()))

    def _insert_exact(
        self, target: LoadTarget, obj: LakeObject, profile: ObjectProfile, report: LoadReport
    ) -> None:
        """Insert one object's rows that the table does not hold yet (by identity columns)."""
        if profile.offsets is None:
            self.ledger.record([self._entry(target, obj, profile, LOADED)], self.run)
            self._account(report, target, [obj], 0, 0)
            return
        loaded = self.ledger.ranges(obj.topic, obj.topic_id, [obj.partition])[LOADED]
        covered = [r for r in loaded if r.overlaps(profile.offsets)]
        fresh = f"NOT ({_in_ranges(covered)})" if covered else "1"
        source = self._source([obj])
        identity = f"({', '.join(target.identity)})"
        identity_exprs = f"({', '.join(target.identity_expressions())})"
        table = self._table(target)
        skipped = self._count_where([obj], _in_ranges(covered)).get(obj.file_name, 0) if covered else 0
        present = self._scalar(
            f"SELECT count() FROM {table} WHERE {identity} IN "
            f"(SELECT {identity_exprs} FROM {source} WHERE {fresh})"
        )
        added = self._insert_counted(
            target,
            f"{self._select(target, [obj])} WHERE {fresh} AND {identity_exprs} NOT IN "
            f"(SELECT {identity} FROM {table} WHERE {identity} IN (SELECT {identity_exprs} FROM {source}))",
        )
        expected = profile.rows - skipped - present
        if added != expected:
            raise DataQualityError(
                f"{target.table} grew by {added} rows, expected {expected} from s3://{self.store.bucket}/{obj.key}"
            )
        entry = self._entry(target, obj, profile, LOADED, rows=added, skipped=skipped + present)
        self.ledger.record([entry], self.run)
        self._account(report, target, [obj], added, skipped + present)

    # --- checks of what is skipped -------------------------------------------------------------

    def _verify_already_loaded(
        self, target: LoadTarget, objects: list[LakeObject], report: LoadReport
    ) -> None:
        """Objects the ledger has as loaded are skipped only if all their rows are in the table."""
        for chunk in _chunks(objects, self.batch_objects):
            try:
                missing = self._missing_rows(target, chunk, "1")
            except ClickHouseError as exc:  # a loaded object unreadable now: say so, load the rest
                for obj in chunk:
                    report.failed[obj.key] = (
                        f"cannot re-check s3://{self.store.bucket}/{obj.key}: {_short(exc)}"
                    )
                continue
            for obj in chunk:
                gone, rows = missing.get(obj.file_name, (0, 0))
                if not gone:
                    report.already_loaded += 1
                    continue
                error = SkippedRowsMissingError(
                    f"s3://{self.store.bucket}/{obj.key}: the ledger has it as loaded but {gone} of its "
                    f"{rows} rows are not in {target.table}; not loaded again (ledger and table disagree)"
                )
                report.failed[obj.key] = str(error)

    def _verify_skipped_rows(
        self,
        target: LoadTarget,
        batch: list[LakeObject],
        profiles: dict[str, ObjectProfile],
        loaded: list[OffsetRange],
        report: LoadReport,
    ) -> list[LakeObject]:
        """The objects of `batch` whose rows inside loaded offset ranges are all in the table.

        The others fail (recorded ``failed``, so they stay unsettled): the ledger says those
        positions were loaded, the table does not hold their rows, so skipping them would lose them.
        """
        covered = {
            obj.file_name: ranges
            for obj in batch
            if (offsets := profiles[obj.key].offsets) is not None
            and (ranges := [r for r in loaded if offsets.overlaps(r)])
        }
        if not covered:
            return batch
        condition = " OR ".join(
            f"(_file = {sql_string(name)} AND ({_in_ranges(ranges)}))" for name, ranges in covered.items()
        )
        missing = self._missing_rows(target, [o for o in batch if o.file_name in covered], condition)
        passed = []
        for obj in batch:
            gone, skipped = missing.get(obj.file_name, (0, 0))
            if not gone:
                passed.append(obj)
                continue
            offsets_text = ", ".join(f"{r.first}-{r.last}" for r in covered[obj.file_name])
            error = SkippedRowsMissingError(
                f"s3://{self.store.bucket}/{obj.key}: {gone} of {skipped} rows at offsets the ledger has as "
                f"loaded (partition {obj.partition}, offsets {offsets_text}, "
                f"topic id {obj.topic_id or 'none'}) "
                f"are not in {target.table}; nothing of it was loaded (a topic recreated under the same "
                "incarnation, or rows deleted from the table?)"
            )
            self._fail(target, obj, error, report, profiles[obj.key])
        return passed

    def _missing_rows(
        self, target: LoadTarget, objects: Sequence[LakeObject], condition: str
    ) -> dict[str, tuple[int, int]]:
        """Per object file name: (rows matching `condition` not in the table, rows matching it).

        A row is in the table when its identity is (for entity tables: its key at its version or
        a newer one, `LoadTarget.presence_version`). One pass over the objects and one lookup of
        just their keys in the table.
        """
        source = self._source(objects)
        key = target.presence_key()
        by_column = dict(zip(target.columns(), target.select_expressions(), strict=True))
        seen, need = target.presence_version()
        aliases = [f"k{i}" for i in range(len(key))]
        rows = ", ".join(
            f"{by_column[column]} AS {alias}" for column, alias in zip(key, aliases, strict=True)
        )
        keys = ", ".join(f"{column} AS {alias}" for column, alias in zip(key, aliases, strict=True))
        on = " AND ".join(f"s.{alias} = t.{alias}" for alias in aliases)
        query = (
            f"SELECT s.file, countIf(t.seen < s.need), count() "
            f"FROM (SELECT _file AS file, {rows}, {need} AS need FROM {source} WHERE {condition}) AS s "
            f"LEFT JOIN (SELECT {keys}, {seen} AS seen FROM {self._table(target)} "
            f"WHERE ({', '.join(key)}) IN (SELECT {', '.join(by_column[c] for c in key)} FROM {source}) "
            f"GROUP BY {', '.join(key)}) AS t ON {on} GROUP BY s.file"
        )
        return {
            str(name): (int(gone), int(total)) for name, gone, total in self.client.query(query).result_rows
        }

    # --- SQL helpers --------------------------------------------------------------------------

    def _table(self, target: LoadTarget) -> str:
        return f"{self.database}.{target.table}"

    def _url(self, objects: Sequence[LakeObject]) -> str:
        """One URL for objects of one topic folder: a brace list of their file names."""
        folder = objects[0].key.rsplit("/", 1)[0]
        names = [obj.file_name for obj in objects]
        return self.store.object_url(
            f"{folder}/{names[0]}" if len(names) == 1 else f"{folder}/{{{','.join(names)}}}"
        )

    def _source(self, objects: Sequence[LakeObject]) -> str:
        return self.store.s3_table_function(self._url(objects))

    def _select(self, target: LoadTarget, objects: Sequence[LakeObject]) -> str:
        return (
            f"INSERT INTO {self._table(target)} ({', '.join(target.columns())}) "
            f"SELECT {', '.join(target.select_expressions())} FROM {self._source(objects)}"
        )

    def _insert_counted(self, target: LoadTarget, insert: str) -> int:
        """Run `insert` and return how many rows the table gained (count() is metadata-only)."""
        table = self._table(target)
        before = self._scalar(f"SELECT count() FROM {table}")
        # Read the objects with their own (inferred) structure: by default ClickHouse would take
        # the insertion table's, and the offset/timestamp columns would not resolve.
        self.client.command(insert, settings={"use_structure_from_insertion_table_in_table_functions": 0})
        return self._scalar(f"SELECT count() FROM {table}") - before

    def _count_where(self, objects: Sequence[LakeObject], condition: str) -> dict[str, int]:
        rows = self.client.query(
            f"SELECT _file, countIf({condition}) FROM {self._source(objects)} GROUP BY _file"
        ).result_rows
        return {name: int(count) for name, count in rows}

    def _scalar(self, query: str) -> int:
        return int(self.client.query(query).result_rows[0][0])

    # --- bookkeeping --------------------------------------------------------------------------

    def _entry(
        self, target: LoadTarget, obj: LakeObject, profile: ObjectProfile, status: str,
        rows: int = 0, skipped: int = 0,
    ) -> LedgerEntry:  # fmt: skip
        return LedgerEntry(
            obj, target.table, status, profile.offsets, profile.footer_rows, rows=rows, skipped_rows=skipped
        )

    def _fail(
        self, target: LoadTarget, obj: LakeObject, error: LakeLoadError, report: LoadReport,
        profile: ObjectProfile | None = None,
    ) -> None:  # fmt: skip
        """Record the failure with the object's offsets when known, so overlapping objects of a
        later run take the exact path too (rows of a failed attempt may be in the table)."""
        report.failed[obj.key] = str(error)
        offsets = profile.offsets if profile is not None else None
        self.ledger.record([LedgerEntry(obj, target.table, FAILED, offsets, error=str(error))], self.run)

    @staticmethod
    def _account(
        report: LoadReport, target: LoadTarget, objects: list[LakeObject], added: int, skipped: int
    ) -> None:
        report.loaded += [obj.key for obj in objects]
        report.rows += added
        report.skipped_rows += skipped
        report.rows_per_table[target.table] += added


def plan_batches(
    objects: list[LakeObject], profiles: dict[str, ObjectProfile], max_objects: int, max_rows: int
) -> list[list[LakeObject]]:
    """Group objects into INSERT batches; objects whose offsets overlap go to different batches.

    Within one INSERT the loader cannot filter one object's rows against another's, so an
    overlapping object waits for a later batch, by which time the ledger lists the first as loaded.
    """
    batches: list[list[LakeObject]] = []
    for obj in sorted(objects, key=lambda o: (o.partition, _first_offset(profiles[o.key]), o.key)):
        offsets = profiles[obj.key].offsets
        for batch in batches:
            full = len(batch) >= max_objects or sum(profiles[o.key].rows for o in batch) >= max_rows
            clash = offsets is not None and any(
                (other := profiles[o.key].offsets) is not None and offsets.overlaps(other) for o in batch
            )
            if not full and not clash:
                batch.append(obj)
                break
        else:
            batches.append([obj])
    return batches


def _first_offset(profile: ObjectProfile) -> int:
    return profile.offsets.first if profile.offsets else -1


def _in_ranges(ranges: Sequence[OffsetRange]) -> str:
    return " OR ".join(f"{OFFSET} BETWEEN {r.first} AND {r.last}" for r in ranges)


def _profile_problem(obj: LakeObject, profile: ObjectProfile, bucket: str) -> str:
    where = f"s3://{bucket}/{obj.key}"
    if profile.rows != profile.footer_rows:
        return f"{where}: decoded {profile.rows} rows but its Parquet footer says {profile.footer_rows}"
    if profile.null_keys:
        return f"{where}: {profile.null_keys} row(s) with a null or empty key; nothing of it was loaded"
    return ""


def _chunks(items: list[LakeObject], size: int) -> list[list[LakeObject]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _short(exc: Exception) -> str:
    """ClickHouse's error on one line, short enough for a task log headline and the ledger."""
    text = " ".join(str(exc).split())
    return text[:400] if text else type(exc).__name__
