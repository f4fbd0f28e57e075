"""The load ledger: what the lake loader has loaded, is loading, or could not load.

One row per attempt step in ``<database>.load_ledger``, appended and never replaced (a MergeTree;
databases created before that keep a ReplacingMergeTree by object key + etag, which the rules
below make safe). An object's state is the strongest status any of its rows carries, so no merge or
clock tie can hide a finished load: ``loaded`` > ``loading`` > ``failed``.

- ``loading`` is written *before* an object's rows are inserted: if the process dies before the
  ``loaded`` row, the next run knows rows of it may already be in the table.
- ``failed`` counts like ``loading`` (both are *unsettled*): a load can fail after part of its
  rows went in, and in an old ReplacingMergeTree ledger a merge keeps the ``failed`` row and drops
  the ``loading`` one. So the next run loads an unsettled object on the exact path (anti-join
  against the table), never the fast one, and ``failed`` rows carry the offsets too.
- ``loaded`` carries the object's Kafka partition and offset range: rows at those positions are
  in the table exactly once.
- Positions are per topic *incarnation* (``topic_id``, Kafka's id of the topic, from the object's
  name): a topic deleted and recreated starts again at offset 0, and those offsets say nothing
  about what the old incarnation loaded. Rows of ledgers older than the column carry ``''``, the
  incarnation of objects named without a topic id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from fraudlake.lake.layout import LakeObject

LOADING, LOADED, FAILED = "loading", "loaded", "failed"
# Attempts that did not end in `loaded`: rows of them may or may not be in the table.
UNSETTLED = frozenset({LOADING, FAILED})
_STATUS_RANK = {FAILED: 1, LOADING: 2, LOADED: 3}
# Object keys per ledger lookup (a key is ~100 bytes: well under the 1 MiB URI of a query).
STATES_CHUNK = 2_000


@dataclass(frozen=True)
class OffsetRange:
    """Kafka positions [first, last] of one partition that one object holds."""

    partition: int
    first: int
    last: int

    def overlaps(self, other: OffsetRange) -> bool:
        return self.partition == other.partition and self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class LedgerEntry:
    """What the loader records about one object in one step."""

    obj: LakeObject
    target_table: str
    status: str
    offsets: OffsetRange | None = None
    parquet_rows: int = 0
    rows: int = 0  # rows this object added to the table
    skipped_rows: int = 0  # rows already loaded from an earlier object
    error: str = ""


@dataclass(frozen=True)
class RunInfo:
    """The DAG run (or CLI call) on whose behalf the loader writes ledger rows."""

    run_id: str
    interval_start: datetime
    interval_end: datetime


class Ledger:
    """Reads and appends ``<database>.load_ledger``."""

    COLUMNS = (
        "object_key", "etag", "topic", "target_table", "rows", "bytes", "status", "error", "dag_run_id",
        "data_interval_start", "data_interval_end", "kafka_partition", "first_offset", "last_offset",
        "parquet_rows", "skipped_rows", "topic_id",
    )  # fmt: skip

    def __init__(self, client: Client, database: str) -> None:
        self.client = client
        self.table = f"{database}.load_ledger"

    def states(self, objects: Iterable[LakeObject]) -> dict[tuple[str, str], str]:
        """Strongest status per (key, etag) of `objects` that the ledger knows.

        Asked in chunks of STATES_CHUNK keys: a sweep over days of objects would otherwise send
        megabytes of keys as one query parameter (the HTTP interface's URI limit is 1 MiB).
        """
        keys = sorted({obj.key for obj in objects})
        found: dict[tuple[str, str], str] = {}
        for first in range(0, len(keys), STATES_CHUNK):
            result = self.client.query(
                f"SELECT object_key, etag, groupUniqArray(status) FROM {self.table} "
                "WHERE object_key IN {keys:Array(String)} GROUP BY object_key, etag",
                parameters={"keys": keys[first : first + STATES_CHUNK]},
            )
            found.update({(key, etag): strongest(statuses) for key, etag, statuses in result.result_rows})
        return found

    def ranges(self, topic: str, topic_id: str, partitions: Iterable[int]) -> dict[str, list[OffsetRange]]:
        """Offset ranges of objects of `topic`'s incarnation `topic_id` in `partitions`, under
        ``loaded`` or ``loading``.

        An object that ever reached ``loaded`` counts as loaded only; an unsettled one (``loading``
        or ``failed`` without a ``loaded`` row) is listed under ``loading``: an interrupted attempt
        whose rows may or may not be in the table.
        """
        wanted = sorted(set(partitions))
        out: dict[str, list[OffsetRange]] = {LOADED: [], LOADING: []}
        if not wanted:
            return out
        result = self.client.query(
            f"SELECT kafka_partition, first_offset, last_offset, groupUniqArray(status) FROM {self.table} "
            "WHERE topic = {topic:String} AND topic_id = {topic_id:String} "
            "AND kafka_partition IN {partitions:Array(UInt32)} "
            "AND first_offset >= 0 GROUP BY object_key, etag, kafka_partition, first_offset, last_offset",
            parameters={"topic": topic, "topic_id": topic_id, "partitions": wanted},
        )
        for partition, first, last, statuses in result.result_rows:
            state = LOADED if strongest(statuses) == LOADED else LOADING
            out[state].append(OffsetRange(int(partition), int(first), int(last)))
        return out

    def record(self, entries: Sequence[LedgerEntry], run: RunInfo) -> None:
        """Append one row per entry (one insert: cheap, and atomic for the batch).

        Sent as JSONEachRow text through a plain command: clickhouse-connect's native insert costs
        seconds on its first use in a process (chDB), more than a whole small load.
        """
        if not entries:
            return
        lines = [json.dumps(dict(zip(self.COLUMNS, self._row(entry, run), strict=True))) for entry in entries]
        self.client.command(
            f"INSERT INTO {self.table} ({', '.join(self.COLUMNS)}) FORMAT JSONEachRow\n" + "\n".join(lines)
        )

    @staticmethod
    def _row(e: LedgerEntry, run: RunInfo) -> list[object]:
        offsets = e.offsets or OffsetRange(e.obj.partition, -1, -1)
        return [
            e.obj.key, e.obj.etag, e.obj.topic, e.target_table, e.rows, e.obj.size, e.status, e.error[:2000],
            run.run_id, _utc_text(run.interval_start), _utc_text(run.interval_end), offsets.partition,
            offsets.first, offsets.last, e.parquet_rows, e.skipped_rows, e.obj.topic_id,
        ]  # fmt: skip


def _utc_text(moment: datetime) -> str:
    """DateTime64(3, 'UTC') text: ClickHouse reads it without a zone, so convert to UTC first."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def strongest(statuses: Iterable[str]) -> str:
    """The status that wins among an object's ledger rows (loaded > loading > failed)."""
    return max(statuses, key=lambda status: _STATUS_RANK.get(status, 0))
