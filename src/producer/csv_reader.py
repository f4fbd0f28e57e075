"""Streaming reader of the Kaggle/IBM TabFormer transactions CSV, unchanged.

Reads the 2.2 GB file in Arrow blocks (constant memory), decodes the quirks (`$` amounts,
`Errors?`, `Is Fraud?`, float ZIPs) column-wise and adds the platform fields. A malformed row —
bytes that are not UTF-8, an unterminated quote (both screened out before Arrow parses, see
`csv_lines`), wrong number of fields, a value of the wrong shape, an impossible date, an unknown
card — is counted and reported with its physical line number, then skipped: one bad line neither
stops a replay of 24 million rows nor disappears silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from fraudlake.producer import kaggle_codec as codec
from fraudlake.producer.csv_lines import ScreenedLines
from fraudlake.producer.entities import CardDirectory
from fraudlake.schemas import TRANSACTIONS, to_arrow_schema
from fraudlake.schemas.ids import TxnIdAssigner

KAGGLE_HEADER = list(TRANSACTIONS.kaggle_columns)
USE_CHIP_VALUES = ("Swipe Transaction", "Chip Transaction", "Online Transaction")
MINUTE_MS = 60_000


class NotAKaggleFileError(ValueError):
    """The header is not the Kaggle transactions header (wrong file, not a malformed row)."""


@dataclass(frozen=True)
class MalformedRow:
    line: int  # 1-based physical line in the file; the header is line 1
    reason: str
    text: str


@dataclass
class ReadReport:
    """What a read saw: good rows, frauds among them, and malformed rows (first `max_samples` kept)."""

    rows: int = 0
    frauds: int = 0
    malformed: int = 0
    samples: list[MalformedRow] = field(default_factory=list)
    max_samples: int = 100

    def add_malformed(self, line: int, reason: str, text: str) -> None:
        self.malformed += 1
        if len(self.samples) < self.max_samples:
            self.samples.append(MalformedRow(line, reason, text[:200]))


def _past_skipped(lines: np.ndarray, skipped: list[int]) -> np.ndarray:
    """`lines` counted as if the `skipped` line numbers were not there, renumbered to include them:
    each line moves down by the skipped lines at or before its new number (a fixed point)."""
    gaps = np.sort(np.array([n for n in skipped if n > 0], dtype=np.int64))
    shifted = lines
    for _ in range(len(gaps) + 1):
        moved = lines + np.searchsorted(gaps, shifted, side="right")
        if np.array_equal(moved, shifted):
            break
        shifted = moved
    return shifted


class KaggleTransactionReader:
    """Iterate `batches()` for typed TRANSACTIONS tables; `report` fills in as you go."""

    def __init__(self, path: Path, cards: CardDirectory, block_size: int = 8 << 20, max_samples: int = 100):
        self.path = Path(path)
        self.cards = cards
        self.block_size = block_size
        self.report = ReadReport(max_samples=max_samples)
        self._invalid_lines: list[int] = []  # Arrow's skipped rows, numbered in the screened stream
        self._screened_lines: list[int] = []  # physical lines left out before Arrow saw them
        self._good_rows_seen = 0
        self._ids = TxnIdAssigner()
        self._schema = to_arrow_schema(TRANSACTIONS)

    def batches(self) -> Iterator[pa.Table]:
        self._check_header()
        reader = pacsv.open_csv(
            ScreenedLines(self.path, self._on_screened_line),
            read_options=pacsv.ReadOptions(block_size=self.block_size, use_threads=False),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=self._on_invalid_row, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(KAGGLE_HEADER, pa.string()), strings_can_be_null=False
            ),
        )
        for batch in reader:
            table = self._decode(batch)
            if table.num_rows:
                yield table

    def _check_header(self) -> None:
        with self.path.open("rb") as fh:
            header = fh.readline().decode("utf-8", errors="replace").rstrip("\r\n").split(",")
        if header != KAGGLE_HEADER:
            raise NotAKaggleFileError(f"{self.path}: header {header} is not the Kaggle transactions header")

    def _on_screened_line(self, line: int, reason: str, raw: bytes) -> None:
        self._screened_lines.append(line)
        self.report.add_malformed(line, reason, raw.decode("utf-8", errors="replace"))

    def _on_invalid_row(self, row: pacsv.InvalidRow) -> str:
        line = row.number if row.number is not None else -1
        self._invalid_lines.append(line)
        physical = int(self._physical(np.array([line]))[0]) if line > 0 else line
        self.report.add_malformed(
            physical, f"expected {row.expected_columns} fields, got {row.actual_columns}", row.text
        )
        return "skip"

    def _line_numbers(self, rank: np.ndarray) -> np.ndarray:
        """Physical lines of the parsed rows with these 0-based ranks (skipped lines interleave)."""
        return self._physical(_past_skipped(rank + 2, self._invalid_lines))

    def _physical(self, stream_lines: np.ndarray) -> np.ndarray:
        """Physical line numbers of lines numbered in the screened stream Arrow parses."""
        return _past_skipped(stream_lines, self._screened_lines)

    def _decode(self, batch: pa.RecordBatch) -> pa.Table:
        col = {name: batch.column(name) for name in KAGGLE_HEADER}
        checks: list[tuple[str, np.ndarray]] = []
        ints = {}
        for name in ("User", "Card", "Year", "Month", "Day", "MCC"):
            ints[name], ok = codec.decode_int(col[name], pa.int32())
            checks.append((name, ok))
        merchant, ok = codec.decode_int(col["Merchant Name"])
        checks.append(("Merchant Name", ok))
        minute_of_day, ok = codec.decode_time(col["Time"])
        checks.append(("Time", ok))
        amount, ok = codec.decode_dollars(col["Amount"])
        checks.append(("Amount", ok))
        checks.append(("Use Chip", np.isin(col["Use Chip"].to_numpy(zero_copy_only=False), USE_CHIP_VALUES)))
        zip_code, ok = codec.decode_zip(col["Zip"])
        checks.append(("Zip", ok))
        is_fraud, ok = codec.decode_yes_no(col["Is Fraud?"])
        checks.append(("Is Fraud?", ok))
        days, ok = codec.epoch_days(ints["Year"], ints["Month"], ints["Day"])
        checks.append(("Year/Month/Day", ok))
        card_rows, ok = self.cards.lookup(ints["User"], ints["Card"])
        checks.append(("card (not in the cards table)", ok))

        good = np.logical_and.reduce([ok for _, ok in checks])
        self._report_bad_values(batch, checks, good)
        self._good_rows_seen += len(good)
        keep = pa.array(good)
        minute = days * 1440 + minute_of_day
        return self._platform_table(
            user=ints["User"][good],
            card=ints["Card"][good],
            minute=minute[good],
            amount=amount[good],
            merchant=merchant[good],
            card_rows=card_rows[good],
            mcc=ints["MCC"][good],
            year=ints["Year"][good],
            month=ints["Month"][good],
            day=ints["Day"][good],
            is_fraud=is_fraud[good],
            strings={
                "time": col["Time"],
                "use_chip": col["Use Chip"],
                "merchant_city": col["Merchant City"],
                "merchant_state": codec.empty_to_null(col["Merchant State"]),
                "zip": zip_code,
                "errors": codec.empty_to_null(col["Errors?"]),
            },
            keep=keep,
        )

    def _report_bad_values(
        self, batch: pa.RecordBatch, checks: list[tuple[str, np.ndarray]], good: np.ndarray
    ) -> None:
        bad = np.flatnonzero(~good)
        if not len(bad):
            return
        lines = self._line_numbers(self._good_rows_seen + bad)
        rows = batch.take(pa.array(bad)).to_pylist()
        for index, line, row in zip(bad, lines, rows, strict=True):
            reason = next(name for name, ok in checks if not ok[index])
            self.report.add_malformed(int(line), f"bad {reason}", ",".join(str(v) for v in row.values()))

    def _platform_table(
        self,
        *,
        user: np.ndarray,
        card: np.ndarray,
        minute: np.ndarray,
        amount: np.ndarray,
        merchant: np.ndarray,
        card_rows: np.ndarray,
        mcc: np.ndarray,
        year: np.ndarray,
        month: np.ndarray,
        day: np.ndarray,
        is_fraud: np.ndarray,
        strings: dict[str, pa.Array],
        keep: pa.Array,
    ) -> pa.Table:
        cents = np.rint(amount * 100).astype(np.int64)
        user_id = pc.cast(pa.array(user), pa.string())
        table = pa.table(
            {
                "txn_id": self._ids.assign(user, card, minute, cents, merchant),
                "event_ts": pa.array(minute * MINUTE_MS, pa.timestamp("ms", tz="UTC")),
                "user_id": user_id,
                "card_id": pc.binary_join_element_wise(user_id, pc.cast(pa.array(card), pa.string()), "-"),
                "merchant_id": pc.cast(pa.array(merchant), pa.string()),
                "card_token": self.cards.cards.column("card_token").take(pa.array(card_rows)),
                "user": user,
                "card": card,
                "year": year,
                "month": month,
                "day": day,
                "time": strings["time"].filter(keep),
                "amount": amount,
                "use_chip": strings["use_chip"].filter(keep),
                "merchant_name": merchant,
                "merchant_city": strings["merchant_city"].filter(keep),
                "merchant_state": strings["merchant_state"].filter(keep),
                "zip": strings["zip"].filter(keep),
                "mcc": mcc,
                "errors": strings["errors"].filter(keep),
                "is_fraud": is_fraud,
            }
        )
        self.report.rows += table.num_rows
        self.report.frauds += int(is_fraud.sum())
        return table.cast(self._schema)
