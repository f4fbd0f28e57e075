"""Exactly-once evidence: an order-independent fingerprint of a set of transaction ids.

The same fingerprint is computed from what the producer sent and from the ClickHouse table with a
plain ``count()`` (no FINAL), so a duplicate or a missing row shows as a difference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class TxnFingerprint:
    """Row count, distinct ids and the sum (mod 2**64) of the first 8 bytes of each id's MD5."""

    rows: int
    distinct: int
    checksum: int

    @classmethod
    def of_ids(cls, txn_ids: Iterable[str]) -> TxnFingerprint:
        ids = list(txn_ids)
        total = sum(int.from_bytes(hashlib.md5(t.encode()).digest()[:8], "little") for t in ids)  # noqa: S324 - a checksum, not security
        return cls(len(ids), len(set(ids)), total & MASK64)

    @classmethod
    def of_table(cls, client: Client, database: str, table: str = "transactions") -> TxnFingerprint:
        """The fingerprint of `database.table` as stored: duplicates count twice."""
        rows, distinct, checksum = client.query(
            "SELECT count(), uniqExact(txn_id), sum(reinterpretAsUInt64(substring(MD5(txn_id), 1, 8))) "
            f"FROM {database}.{table}"
        ).result_rows[0]
        return cls(int(rows), int(distinct), int(checksum) & MASK64)
