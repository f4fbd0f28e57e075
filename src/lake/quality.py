"""Data-quality rules of the lake load and the errors that fail the load loudly."""

from __future__ import annotations

from dataclasses import dataclass


class LakeLoadError(Exception):
    """Something in the lake or the load is wrong; the message names the objects concerned."""


class CorruptObjectError(LakeLoadError):
    """An object ClickHouse cannot read as Parquet (truncated, garbage, wrong shape)."""


class DataQualityError(LakeLoadError):
    """The data read but broke a rule: null keys, row counts that disagree, an implausible fraud rate."""


class SkippedRowsMissingError(DataQualityError):
    """Rows the ledger counts as loaded (so the loader skips them) are not in the table: the ledger
    and the table disagree, and loading on would lose them silently."""


@dataclass(frozen=True)
class QualityRules:
    """Bounds a load must stay within.

    The fraud rate of card transactions is around 0.1-0.2 % (TabFormer: 0.122 %). A rate above
    `max_fraud_rate` means labels went wrong upstream (e.g. inverted); a rate below
    `min_fraud_rate` is only judged on loads of at least `min_rows_for_min_rate` rows, since
    small loads legitimately hold no fraud at all.
    """

    max_fraud_rate: float = 0.05
    min_fraud_rate: float = 0.0001
    min_rows_for_min_rate: int = 50_000

    def check_fraud_rate(self, fraud: int, rows: int, what: str) -> None:
        """Raise DataQualityError when `fraud` of `rows` is outside the band."""
        if rows == 0:
            return
        rate = fraud / rows
        if rate > self.max_fraud_rate:
            raise DataQualityError(
                f"fraud rate {rate:.4%} ({fraud}/{rows}) in {what} is above the sanity bound "
                f"{self.max_fraud_rate:.2%}: labels look wrong upstream; nothing of it was loaded"
            )
        if rows >= self.min_rows_for_min_rate and rate < self.min_fraud_rate:
            raise DataQualityError(
                f"fraud rate {rate:.4%} ({fraud}/{rows}) in {what} is below the sanity bound "
                f"{self.min_fraud_rate:.2%}: labels look missing upstream; nothing of it was loaded"
            )
