"""Column-wise decoding and encoding of the Kaggle/TabFormer CSV quirks.

Decoders take Arrow string columns as read from the CSV and return (values, ok) where `ok` marks
rows whose text had the expected shape, so callers can report malformed rows instead of failing.
Encoders produce the exact text the Kaggle files use (`$-88.00`, `91750.0`, `Yes`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_INT = r"^-?\d{1,19}$"
_INT64 = pa.int64()
_INT64_MAX = "9223372036854775807"
_DOLLARS = r"^\$-?\d+(\.\d+)?$"
_ZIP = r"^\d{1,5}(\.0+)?$"
_TIME = r"^([01]\d|2[0-3]):[0-5]\d$"


def _ok(mask: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def decode_int(column: pa.Array, dtype: pa.DataType = _INT64) -> tuple[np.ndarray, np.ndarray]:
    """Integers written in decimal; malformed rows decode as 0."""
    ok = _ok(pc.match_substring_regex(column, _INT))
    digits = pc.utf8_ltrim(column, "-")
    # 19 digits may overflow int64; compare as text because the cast would fail the whole column.
    ok &= ~_ok(pc.and_(pc.equal(pc.utf8_length(digits), 19), pc.greater(digits, _INT64_MAX)))
    values = pc.cast(pc.if_else(pa.array(ok), column, "0"), pa.int64())
    as_np = values.to_numpy(zero_copy_only=False)
    if dtype == pa.int32():
        in_range = (as_np >= -(2**31)) & (as_np < 2**31)
        ok &= in_range
        as_np = np.where(in_range, as_np, 0).astype(np.int32)
    return as_np, ok


def decode_optional_int(column: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Like `decode_int` (int32), but an empty field is null rather than malformed."""
    present = _ok(pc.not_equal(column, ""))
    values, ok = decode_int(pc.if_else(pa.array(present), column, "0"), pa.int32())
    return pa.array(values, mask=~present), ok


def decode_dollars(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """`$134.09` / `$-88.00` / `$24295` → float dollars."""
    ok = _ok(pc.match_substring_regex(column, _DOLLARS))
    digits = pc.utf8_slice_codeunits(pc.if_else(pa.array(ok), column, "$0"), 1)
    return pc.cast(digits, pa.float64()).to_numpy(zero_copy_only=False), ok


def decode_zip(column: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """`91750.0` (float text) or `91750` → "91750", zero-padded; empty → null."""
    present = _ok(pc.not_equal(column, ""))
    ok = ~present | _ok(pc.match_substring_regex(column, _ZIP))
    head = pc.list_element(pc.split_pattern(column, pattern=".", max_splits=1), 0)
    padded = pc.utf8_lpad(head, 5, padding="0")
    return pc.if_else(pa.array(present & ok), padded, pa.scalar(None, pa.string())), ok


def decode_yes_no(column: pa.Array, yes: str = "Yes", no: str = "No") -> tuple[np.ndarray, np.ndarray]:
    is_yes = _ok(pc.equal(column, yes))
    return is_yes, is_yes | _ok(pc.equal(column, no))


def decode_time(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """`HH:MM` → minute of day."""
    ok = _ok(pc.match_substring_regex(column, _TIME))
    safe = pc.if_else(pa.array(ok), column, "00:00")
    hours = pc.cast(pc.utf8_slice_codeunits(safe, 0, 2), pa.int64()).to_numpy(zero_copy_only=False)
    minutes = pc.cast(pc.utf8_slice_codeunits(safe, 3, 5), pa.int64()).to_numpy(zero_copy_only=False)
    return hours * 60 + minutes, ok


def empty_to_null(column: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def epoch_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 of calendar dates, and whether each date exists (no Feb 30)."""
    month_ok = (month >= 1) & (month <= 12) & (year >= 1900) & (year <= 2200)
    months = np.where(month_ok, (year.astype(np.int64) - 1970) * 12 + month - 1, 0)
    first = months.astype("datetime64[M]").astype("datetime64[D]")
    next_first = (months + 1).astype("datetime64[M]").astype("datetime64[D]")
    days_in_month = (next_first - first).astype(np.int64)
    ok = month_ok & (day >= 1) & (day <= days_in_month)
    return first.astype(np.int64) + np.where(ok, day - 1, 0), ok


# ---- encoders --------------------------------------------------------------------------------


def encode_dollars(amount: pa.Array) -> pa.Array:
    """Dollars → `$134.09`, `$-88.00` (always two decimals, like the Kaggle file)."""
    cents = np.rint(np.asarray(amount.to_numpy(zero_copy_only=False), dtype=np.float64) * 100).astype(
        np.int64
    )
    sign = pa.array(np.where(cents < 0, "$-", "$"))
    whole = pc.cast(pa.array(np.abs(cents) // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(np.abs(cents) % 100), pa.string()), 2, padding="0")
    return pc.binary_join_element_wise(sign, whole, ".", frac, "")


def encode_zip_float(zip_code: pa.Array) -> pa.Array:
    """ "02110" → `2110.0` (the Kaggle file stores ZIP as a float); null → empty."""
    as_int = pc.cast(pc.cast(zip_code, pa.int64()), pa.string())
    return pc.fill_null(pc.binary_join_element_wise(as_int, ".0", ""), "")


def encode_yes_no(flags: pa.Array, yes: str = "Yes", no: str = "No") -> pa.Array:
    return pc.if_else(flags, yes, no)


def csv_quote(column: pa.Array) -> pa.Array:
    """Quote fields containing a comma or a quote (RFC 4180, minimal quoting as in the Kaggle files)."""
    text = pc.fill_null(column, "")
    needs = pc.match_substring_regex(text, r'[,"\n]')
    doubled = pc.replace_substring(text, '"', '""')
    return pc.if_else(needs, pc.binary_join_element_wise('"', doubled, '"', ""), text)


def minutes_to_hhmm() -> pa.Array:
    """Lookup table: minute of day → `HH:MM`."""
    return pa.array([f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)])
