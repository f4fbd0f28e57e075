"""Which lake objects a ``lake_to_clickhouse`` run loads: its interval's, and every earlier object the
ledger does not have as loaded.

Listing only the objects last written in the run's data interval loses data: with
``catchup=False`` an interval whose run never happened (scheduler down, DAG paused) is never listed
again, and neither is one whose run failed. So each run sweeps every topic from a durable
watermark:

- The watermark (``<database>.load_watermark``, newest row per topic) is the oldest Last-Modified
  not known to be loaded. After a run it becomes the oldest listed object still not ``loaded``,
  or else the end of what the run listed (never later than the moment of the listing, and never
  earlier than the watermark it started from).
- A run lists ``[min(interval start, watermark - overlap), interval end)``. The overlap catches an
  object that shows up in a listing after later ones (S3 stamps a multipart upload with its
  start). Overlap is safe: the loader skips objects the ledger has as ``loaded`` and retries
  ``failed`` / ``loading`` ones on its exact path.
- The sweep is bounded: it never reaches further back than ``lookback`` before the interval's
  end; a first run (no watermark yet) sweeps exactly that far. A watermark older than that (an
  object failing for longer than the lookback, or a longer outage) is logged as a warning with
  the number of objects no longer swept; load those with an explicit interval, which is always
  listed whole however old.

Both bounds are :class:`SweepBounds`, set in one place: its defaults, or the ``fraudlake_lake``
Variable's ``sweep_lookback_hours`` / ``sweep_overlap_minutes``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from fraudlake.lake.layout import LakeObject
from fraudlake.lake.ledger import LOADED, Ledger, RunInfo
from fraudlake.lake.loader import LakeLoader, LakeLoadFailedError, LoadReport
from fraudlake.lake.store import LakeStore

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK = timedelta(days=3)  # a weekend's outage, and a failing object's days of retries
DEFAULT_OVERLAP = timedelta(hours=1)  # longer than any sink upload takes
_UNKNOWN_TABLE = re.compile(r"\bUNKNOWN_TABLE\b|\bcode: 60\b", re.IGNORECASE)


@dataclass(frozen=True)
class SweepBounds:
    """How far back a run looks: at most `lookback` before its interval's end, and `overlap`
    before the watermark."""

    lookback: timedelta = DEFAULT_LOOKBACK
    overlap: timedelta = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        if self.lookback <= timedelta(0) or self.overlap < timedelta(0) or self.overlap > self.lookback:
            raise ValueError(
                f"sweep bounds need 0 <= overlap <= lookback and lookback > 0, "
                f"got overlap {self.overlap}, lookback {self.lookback}"
            )

    @classmethod
    def of_variable(cls, raw: Mapping[str, Any]) -> SweepBounds:
        """The bounds in the ``fraudlake_lake`` Variable, defaults for the keys it lacks."""
        default = cls()
        lookback = raw.get("sweep_lookback_hours")
        overlap = raw.get("sweep_overlap_minutes")
        return cls(
            timedelta(hours=float(lookback)) if lookback is not None else default.lookback,
            timedelta(minutes=float(overlap)) if overlap is not None else default.overlap,
        )

    def as_variable(self) -> dict[str, float]:
        return {
            "sweep_lookback_hours": self.lookback / timedelta(hours=1),
            "sweep_overlap_minutes": self.overlap / timedelta(minutes=1),
        }


@dataclass(frozen=True)
class SweepWindow:
    """What one run lists of one topic, and where the topic's watermark goes if all of it loads."""

    topic: str
    start: datetime  # listing start (Last-Modified, inclusive)
    end: datetime  # listing end (exclusive): the interval's end
    interval_start: datetime  # objects listed from before it were swept in from earlier intervals
    watermark: datetime | None  # the topic's watermark when the run began
    frontier: datetime  # the watermark once everything listed is loaded

    @property
    def abandoned_from(self) -> datetime | None:
        """Start of the range the watermark asks for but the lookback cut off, if any."""
        return self.watermark if self.watermark is not None and self.watermark < self.start else None


def plan_window(
    topic: str,
    interval_start: datetime,
    interval_end: datetime,
    watermark: datetime | None,
    bounds: SweepBounds,
    listed_at: datetime,
) -> SweepWindow:
    """The listing window of `topic` for a run of [interval_start, interval_end) listing at `listed_at`."""
    floor = interval_end - bounds.lookback
    sweep_from = floor if watermark is None else max(watermark - bounds.overlap, floor)
    reached = min(interval_end, listed_at)
    return SweepWindow(
        topic=topic,
        start=min(interval_start, sweep_from),
        end=interval_end,
        interval_start=interval_start,
        watermark=watermark,
        frontier=reached if watermark is None else max(watermark, reached),
    )


@dataclass(frozen=True)
class Listing:
    """A run's objects to load (those not ``loaded`` when listed, oldest first) and its windows."""

    objects: list[LakeObject]
    windows: list[SweepWindow]

    @property
    def swept(self) -> int:
        """Objects last written before the run's interval: earlier intervals' leftovers."""
        starts = {window.topic: window.interval_start for window in self.windows}
        return sum(1 for obj in self.objects if obj.topic in starts and obj.last_modified < starts[obj.topic])


class Watermarks:
    """Reads and appends ``<database>.load_watermark``.

    A database the operator has not migrated yet has no such table: then there are no watermarks
    (every run sweeps the whole lookback) and none are written, with a warning, rather than no load.
    """

    COLUMNS = ("topic", "watermark", "listed_from", "listed_to", "pending", "swept", "dag_run_id")

    def __init__(self, client: Client, database: str) -> None:
        self.client = client
        self.table = f"{database}.load_watermark"

    def latest(self, topics: Iterable[str]) -> dict[str, datetime]:
        """The newest watermark of each of `topics` that has one."""
        wanted = sorted(set(topics))
        if not wanted:
            return {}
        try:
            result = self.client.query(
                f"SELECT topic, toUnixTimestamp64Milli(argMax(watermark, recorded_at)) FROM {self.table} "
                "WHERE topic IN {topics:Array(String)} GROUP BY topic",
                parameters={"topics": wanted},
            )
        except DatabaseError as exc:
            if not _UNKNOWN_TABLE.search(str(exc)):
                raise
            log.warning("%s does not exist (schema not migrated yet): sweeping the lookback", self.table)
            return {}
        return {str(topic): _from_millis(millis) for topic, millis in result.result_rows}

    def record(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        lines = [
            json.dumps({key: _utc_text(v) if isinstance(v, datetime) else v for key, v in row.items()})
            for row in rows
        ]
        insert = f"INSERT INTO {self.table} ({', '.join(self.COLUMNS)}) FORMAT JSONEachRow\n"
        try:
            self.client.command(insert + "\n".join(lines))
        except DatabaseError as exc:
            if not _UNKNOWN_TABLE.search(str(exc)):
                raise
            log.warning("%s does not exist (schema not migrated yet): no watermark recorded", self.table)


class LakeSweep:
    """Lists what a run must load and, after the load, moves each topic's watermark."""

    def __init__(
        self, client: Client, database: str, store: LakeStore, bounds: SweepBounds | None = None
    ) -> None:
        self.client = client
        self.database = database
        self.store = store
        self.bounds = bounds or SweepBounds()
        self.ledger = Ledger(client, database)
        self.watermarks = Watermarks(client, database)

    def list(
        self,
        topics: Sequence[str],
        interval_start: datetime,
        interval_end: datetime,
        now: datetime | None = None,
    ) -> Listing:
        """The objects of `topics` from the watermark (or the lookback) to the interval's end that
        the ledger does not have as loaded."""
        listed_at = now or datetime.now(UTC)
        marks = self.watermarks.latest(topics)
        windows = [
            plan_window(topic, interval_start, interval_end, marks.get(topic), self.bounds, listed_at)
            for topic in topics
        ]
        listed: list[LakeObject] = []
        for window in windows:
            abandoned_from = window.abandoned_from
            look_from = window.start if abandoned_from is None else abandoned_from - self.bounds.overlap
            found = self.store.list_objects([window.topic], look_from, window.end)
            listed += [obj for obj in found if obj.last_modified >= window.start]
            if abandoned_from is not None:
                beyond = sum(1 for obj in found if obj.last_modified < window.start)
                log.warning(
                    "%s: watermark %s is older than the sweep's lookback (%s before %s); %d object(s) "
                    "last written between %s and %s are no longer swept. Load any still missing with "
                    "an explicit interval_start/interval_end.",
                    window.topic, _iso(abandoned_from), self.bounds.lookback, _iso(window.end), beyond,
                    _iso(look_from), _iso(window.start),
                )  # fmt: skip
        states = self.ledger.states(listed)
        pending = sorted(
            (obj for obj in listed if states.get((obj.key, obj.etag)) != LOADED),
            key=lambda obj: (obj.last_modified, obj.key),
        )
        listing = Listing(pending, windows)
        for window in windows:
            mine = [obj for obj in pending if obj.topic == window.topic]
            swept = [obj for obj in mine if obj.last_modified < window.interval_start]
            log.info(
                "%s: listed [%s, %s) (watermark %s): %d object(s) not loaded, %d of them swept in from "
                "before the interval%s",
                window.topic, _iso(window.start), _iso(window.end), _iso(window.watermark), len(mine),
                len(swept), f" (oldest written {_iso(swept[0].last_modified)})" if swept else "",
            )  # fmt: skip
        return listing

    def load(self, listing: Listing, run: RunInfo, loader: LakeLoader | None = None) -> LoadReport:
        """Load the listing's objects, then move the watermarks, also when some objects failed
        (they hold their topic's watermark, so the next runs retry them)."""
        loader = loader or LakeLoader(self.client, self.database, self.store, run)
        try:
            report = loader.load(listing.objects)
        except LakeLoadFailedError:
            self.advance(listing, run.run_id)
            raise
        self.advance(listing, run.run_id)
        return report

    def advance(self, listing: Listing, run_id: str) -> dict[str, datetime]:
        """Record each topic's new watermark: its oldest listed object still not loaded, or its
        window's frontier. A listing without windows (listed before the sweep existed) moves none."""
        if not listing.windows:
            return {}
        states = self.ledger.states(listing.objects)
        marks: dict[str, datetime] = {}
        rows = []
        for window in listing.windows:
            mine = [obj for obj in listing.objects if obj.topic == window.topic]
            pending = [obj for obj in mine if states.get((obj.key, obj.etag)) != LOADED]
            marks[window.topic] = min([window.frontier, *(obj.last_modified for obj in pending)])
            rows.append(
                {
                    "topic": window.topic,
                    "watermark": marks[window.topic],
                    "listed_from": window.start,
                    "listed_to": window.end,
                    "pending": len(pending),
                    "swept": sum(1 for obj in mine if obj.last_modified < window.interval_start),
                    "dag_run_id": run_id,
                }
            )
            if pending:
                log.warning(
                    "%s: %d object(s) still not loaded hold the watermark at %s; the next runs retry them",
                    window.topic, len(pending), _iso(marks[window.topic]),
                )  # fmt: skip
        self.watermarks.record(rows)
        return marks


def _utc_text(moment: datetime) -> str:
    """DateTime64(3, 'UTC') text: ClickHouse reads it without a zone, so convert to UTC first."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(int(millis) / 1000, UTC)


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds") if moment is not None else "none"
