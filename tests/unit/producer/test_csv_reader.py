"""The Kaggle CSV reader and writer on the real User0 file and on malformed input."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fraudlake.producer.csv_reader import KaggleTransactionReader, NotAKaggleFileError
from fraudlake.producer.entities import USER0_FILE, CardDirectory, tabformer_dir
from fraudlake.producer.writers import KaggleCsvWriter, ParquetTransactionWriter
from fraudlake.schemas import TRANSACTIONS, to_arrow_schema

pytestmark = pytest.mark.unit

USER0 = tabformer_dir() / USER0_FILE
HEADER = ",".join(TRANSACTIONS.kaggle_columns)
GOOD = "0,0,2002,9,1,06:21,$134.09,Swipe Transaction,3527213246127876953,La Verne,CA,91750.0,5300,,No"


def _read_all(path: Path, cards: CardDirectory, **kwargs) -> tuple[pa.Table, KaggleTransactionReader]:
    reader = KaggleTransactionReader(path, cards, **kwargs)
    batches = list(reader.batches())
    return (pa.concat_tables(batches) if batches else to_arrow_schema(TRANSACTIONS).empty_table()), reader


def test_user0_real_file_reads_completely_with_its_27_frauds(card_directory: CardDirectory) -> None:
    table, reader = _read_all(USER0, card_directory, block_size=1 << 16)  # many blocks
    assert (reader.report.rows, reader.report.frauds, reader.report.malformed) == (19_963, 27, 0)
    assert table.num_rows == 19_963
    assert pc.sum(table["is_fraud"]).as_py() == 27
    assert table.schema == to_arrow_schema(TRANSACTIONS)
    assert pc.count_distinct(table["txn_id"]).as_py() == 19_963
    first = table.slice(0, 1).to_pylist()[0]
    assert first["amount"] == 134.09
    assert first["zip"] == "91750"
    assert first["errors"] is None
    assert first["card_id"] == "0-0"
    assert first["merchant_id"] == "3527213246127876953"
    assert str(first["event_ts"]) == "2002-09-01 06:21:00+00:00"
    online = table.filter(pc.equal(table["merchant_city"], "ONLINE"))
    assert online["merchant_state"].null_count == online.num_rows == online["zip"].null_count
    two_errors = table.filter(pc.equal(table["errors"], "Bad PIN,Insufficient Balance"))
    assert two_errors.num_rows == 1


def test_txn_ids_do_not_depend_on_block_size(card_directory: CardDirectory) -> None:
    small, _ = _read_all(USER0, card_directory, block_size=1 << 14)
    large, _ = _read_all(USER0, card_directory)
    assert small["txn_id"].to_pylist() == large["txn_id"].to_pylist()


def test_writer_round_trips_the_real_file_byte_for_byte(
    card_directory: CardDirectory, tmp_path: Path
) -> None:
    reader = KaggleTransactionReader(USER0, card_directory)
    with KaggleCsvWriter(tmp_path / "out.csv") as writer:
        for table in reader.batches():
            writer.write(table)
    assert (tmp_path / "out.csv").read_bytes() == USER0.read_bytes()


def test_malformed_rows_are_counted_and_reported_with_line_numbers(card_directory, tmp_path: Path) -> None:
    lines = [
        HEADER,
        GOOD,  # 2
        "0,0,2002,9,1,06:42,$38.48,Swipe Transaction,-727612092139916043",  # 3: too few fields
        GOOD.replace("$134.09", "$12x.34"),  # 4: amount
        "",  # 5: empty line
        GOOD.replace("2002,9,1", "2002,2,30"),  # 6: no such date
        GOOD.replace("06:21", "6:21"),  # 7: time
        GOOD.replace("0,0,", "0,99,", 1),  # 8: unknown card
        GOOD.replace(",No", ",Maybe"),  # 9: label
        GOOD.replace("91750.0", "9x750"),  # 10: zip
        GOOD + ",extra",  # 11: too many fields
        GOOD.replace("06:21", "06:22"),  # 12: fine
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    table, reader = _read_all(path, card_directory, block_size=256)
    assert table.num_rows == 2
    assert reader.report.rows == 2
    assert reader.report.malformed == 9
    by_line = {row.line: row.reason for row in reader.report.samples}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert by_line[3] == "expected 15 fields, got 9"
    assert by_line[4] == "bad Amount"
    assert by_line[5] == "bad User"
    assert by_line[6] == "bad Year/Month/Day"
    assert by_line[7] == "bad Time"
    assert by_line[8] == "bad card (not in the cards table)"
    assert by_line[9] == "bad Is Fraud?"
    assert by_line[10] == "bad Zip"
    assert by_line[11] == "expected 15 fields, got 16"


@pytest.mark.parametrize("block_size", [256, 1 << 20])
def test_bad_bytes_and_unterminated_quotes_cost_only_their_own_line(
    card_directory: CardDirectory, tmp_path: Path, block_size: int
) -> None:
    """Before the screen, an invalid UTF-8 byte aborted the read and an unterminated quote swallowed
    every following line; now each is one reported line and the lines around it are read."""
    quoted = GOOD.replace(",,No", ',"Bad PIN,Technical Glitch",No')
    lines = [
        HEADER.encode(),
        GOOD.encode(),  # 2
        GOOD.encode().replace(b"La Verne", b"La Verne\xff"),  # 3: not UTF-8
        GOOD.replace(",,No", ',"Bad PIN,No').encode(),  # 4: quote never closed
        quoted.encode(),  # 5: fine, quoted
        b"0,0,2002,9,1,06:42,$38.48,Swipe Transaction,-727612092139916043",  # 6: too few fields
        GOOD.replace("06:21", "06:22").replace("$134.09", "$12x.34").encode(),  # 7: amount
        GOOD.replace("06:21", "06:23").encode(),  # 8: fine
    ]
    path = tmp_path / "bytes.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    table, reader = _read_all(path, card_directory, block_size=block_size)
    assert table.num_rows == 3
    by_line = {row.line: row.reason for row in reader.report.samples}
    assert by_line == {
        3: "invalid UTF-8 at byte 73",
        4: "unterminated quote",
        6: "expected 15 fields, got 9",
        7: "bad Amount",
    }
    assert table.column("errors").to_pylist() == [None, "Bad PIN,Technical Glitch", None]


def test_a_file_with_another_header_is_rejected(card_directory: CardDirectory, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(NotAKaggleFileError):
        list(KaggleTransactionReader(path, card_directory).batches())


def test_parquet_writer_keeps_the_platform_types(card_directory: CardDirectory, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table, _ = _read_all(USER0, card_directory)
    with ParquetTransactionWriter(tmp_path / "u0.parquet") as writer:
        writer.write(table)
    back = pq.read_table(tmp_path / "u0.parquet")
    assert back.schema.equals(to_arrow_schema(TRANSACTIONS))
    assert back.equals(table)
