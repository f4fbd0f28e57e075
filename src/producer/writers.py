"""Write TRANSACTIONS tables as the exact Kaggle CSV format or as typed Parquet, chunk by chunk.

The CSV writer round-trips the real file byte for byte (see the unit tests): same header, `$`
amounts with two decimals, float ZIPs, `Yes`/`No`, minimal quoting, `\\n` line endings. Lines are
built column-wise with Arrow kernels, so writing keeps up with the generator.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraudlake.producer import kaggle_codec as codec
from fraudlake.schemas import TRANSACTIONS, to_arrow_schema

KAGGLE_HEADER = ",".join(TRANSACTIONS.kaggle_columns) + "\n"


class TransactionWriter(Protocol):
    def write(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...


def kaggle_lines(table: pa.Table) -> bytes:
    """The rows of a TRANSACTIONS table as Kaggle CSV lines (no header), `\\n`-terminated."""
    if table.num_rows == 0:
        return b""
    col = {name: table.column(name).combine_chunks() for name in table.column_names}
    as_text = {
        "user": pc.cast(col["user"], pa.string()),
        "card": pc.cast(col["card"], pa.string()),
        "year": pc.cast(col["year"], pa.string()),
        "month": pc.cast(col["month"], pa.string()),
        "day": pc.cast(col["day"], pa.string()),
        "time": col["time"],
        "amount": codec.encode_dollars(col["amount"]),
        "use_chip": col["use_chip"],
        "merchant_name": pc.cast(col["merchant_name"], pa.string()),
        "merchant_city": codec.csv_quote(col["merchant_city"]),
        "merchant_state": codec.csv_quote(col["merchant_state"]),
        "zip": codec.encode_zip_float(col["zip"]),
        "mcc": pc.cast(col["mcc"], pa.string()),
        "errors": codec.csv_quote(col["errors"]),
        "is_fraud": codec.encode_yes_no(col["is_fraud"]),
    }
    ordered = [as_text[name] for name in TRANSACTIONS.kaggle_columns.values()]
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*ordered, ","), "\n", "")
    return concatenated_bytes(lines)


def concatenated_bytes(strings: pa.Array) -> bytes:
    """All values of a string array back to back: its data buffer, without a Python loop."""
    strings = pa.concat_arrays([strings])  # a fresh, unsliced array
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=len(strings) + 1)
    return strings.buffers()[2].to_pybytes()[int(offsets[0]) : int(offsets[-1])]


class KaggleCsvWriter:
    """Writes the Kaggle header once, then each table's rows."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("wb")
        self._fh.write(KAGGLE_HEADER.encode())
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self._fh.write(kaggle_lines(table))
        self.rows += table.num_rows

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> KaggleCsvWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ParquetTransactionWriter:
    """Typed Parquet (the platform schema; extra columns such as ground truth kept when given)."""

    def __init__(self, path: Path, extra_columns: pa.Schema | None = None, compression: str = "zstd") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        schema = to_arrow_schema(TRANSACTIONS)
        if extra_columns is not None:
            for fld in extra_columns:
                schema = schema.append(fld)
        self.schema = schema
        self._writer = pq.ParquetWriter(self.path, schema, compression=compression)
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table.select(self.schema.names).cast(self.schema))
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> ParquetTransactionWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
