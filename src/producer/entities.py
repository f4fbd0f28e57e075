"""The real TabFormer entity tables (sd254_users.csv, sd254_cards.csv) as typed platform records.

Card numbers are replaced by their HMAC token and last four digits as the file is read; the CVV
column is never read into memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from fraudlake.common.card_token import last4, tokenize_pan
from fraudlake.producer import kaggle_codec as codec
from fraudlake.schemas import CARDS, USERS, to_arrow_schema

USERS_FILE = "sd254_users.csv"
CARDS_FILE = "sd254_cards.csv"
USER0_FILE = "User0_credit_card_transactions.csv"


class MalformedEntityFileError(ValueError):
    """A users/cards file does not have the Kaggle shape (these reference tables must be clean)."""


def tabformer_dir() -> Path:
    """Folder with the TabFormer files: `FRAUDLAKE_TABFORMER_DIR`, default the vendored sample
    (`data/tabformer-sample/`, package `fraudlake.sample_data`)."""
    configured = os.environ.get("FRAUDLAKE_TABFORMER_DIR")
    if configured:
        return Path(configured)
    return Path(str(resources.files("fraudlake.sample_data") / "tabformer-sample"))


def _read_strings(path: Path, skip: tuple[str, ...] = ()) -> pa.Table:
    header = path.open().readline().strip().split(",")
    wanted = [name for name in header if name not in skip]
    options = pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), include_columns=wanted)
    return pacsv.read_csv(path, convert_options=options)


def _require(ok: np.ndarray, path: Path, column: str) -> None:
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise MalformedEntityFileError(f"{path}: line {bad + 2}: column {column!r} is malformed")


def load_users(path: Path | None = None) -> pa.Table:
    """sd254_users.csv as a USERS table; the user number is the 0-based row number."""
    path = path or tabformer_dir() / USERS_FILE
    raw = _read_strings(path)
    out: dict[str, pa.Array] = {}
    user = np.arange(raw.num_rows, dtype=np.int32)
    out["user_id"], out["user"] = pc.cast(pa.array(user), pa.string()), pa.array(user)
    for fld in USERS.fields:
        if fld.kaggle is None:
            continue
        column = raw.column(fld.kaggle).combine_chunks()
        if fld.name == "zipcode":
            values, ok = codec.decode_zip(column)
        elif fld.name == "apartment":
            values, ok = codec.decode_optional_int(column)
        elif fld.name in {"per_capita_income_zipcode", "yearly_income_person", "total_debt"}:
            values, ok = codec.decode_dollars(column)
        elif fld.name in {"latitude", "longitude"}:
            values, ok = pc.cast(column, pa.float64()), np.ones(len(column), dtype=bool)
        elif str(fld.type.value).startswith("int"):
            values, ok = codec.decode_int(column, pa.int32())
        else:
            values, ok = column, np.ones(len(column), dtype=bool)
        _require(ok, path, fld.kaggle)
        out[fld.name] = values
    return pa.table(out).select(USERS.names).cast(to_arrow_schema(USERS))


def first_users(users: pa.Table, cards: pa.Table, count: int) -> tuple[pa.Table, pa.Table]:
    """The first `count` users and their cards: a smaller bank whose ids are those of the full data
    (user numbers stay 0-based row numbers, so the population's indices hold)."""
    if not 1 <= count <= users.num_rows:
        raise ValueError(f"users must be between 1 and {users.num_rows:,} (the real users), got {count:,}")
    return users.slice(0, count), cards.filter(pc.less(cards["user"], count))


def load_cards(token_key: bytes, path: Path | None = None) -> pa.Table:
    """sd254_cards.csv as a CARDS table: card number → token + last 4; the CVV is not read."""
    path = path or tabformer_dir() / CARDS_FILE
    raw = _read_strings(path, skip=("CVV",))
    user, ok = codec.decode_int(raw.column("User").combine_chunks(), pa.int32())
    _require(ok, path, "User")
    index, ok = codec.decode_int(raw.column("CARD INDEX").combine_chunks(), pa.int32())
    _require(ok, path, "CARD INDEX")
    pans = raw.column("Card Number").to_pylist()
    out: dict[str, pa.Array] = {
        "card_id": pc.binary_join_element_wise(
            pc.cast(pa.array(user), pa.string()), pc.cast(pa.array(index), pa.string()), "-"
        ),
        "user_id": pc.cast(pa.array(user), pa.string()),
        "card_token": pa.array([tokenize_pan(pan, token_key) for pan in pans]),
        "card_last4": pa.array([last4(pan) for pan in pans]),
        "user": pa.array(user),
        "card_index": pa.array(index),
    }
    for fld in CARDS.fields:
        if fld.name in out or fld.kaggle is None:
            continue
        column = raw.column(fld.kaggle).combine_chunks()
        if fld.name == "credit_limit":
            values, ok = codec.decode_dollars(column)
        elif fld.name == "has_chip":
            values, ok = codec.decode_yes_no(column, "YES", "NO")
        elif fld.name == "card_on_dark_web":
            values, ok = codec.decode_yes_no(column)
        elif str(fld.type.value).startswith("int"):
            values, ok = codec.decode_int(column, pa.int32())
        else:
            values, ok = column, np.ones(len(column), dtype=bool)
        _require(ok, path, fld.kaggle)
        out[fld.name] = values
    return pa.table(out).select(CARDS.names).cast(to_arrow_schema(CARDS))


@dataclass(frozen=True)
class CardDirectory:
    """Vectorized lookup from (user, card index) to the card's row in the CARDS table."""

    keys: np.ndarray  # sorted (user << 20 | card index)
    rows: np.ndarray  # row in `cards` for each sorted key
    cards: pa.Table

    @classmethod
    def from_cards(cls, cards: pa.Table) -> CardDirectory:
        keys = (cards.column("user").to_numpy().astype(np.int64) << 20) | cards.column(
            "card_index"
        ).to_numpy()
        order = np.argsort(keys)
        return cls(keys=keys[order], rows=order, cards=cards)

    def lookup(self, user: np.ndarray, card: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row index of each (user, card) and whether the card exists."""
        wanted = (np.asarray(user, dtype=np.int64) << 20) | np.asarray(card, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.keys, wanted), 0, len(self.keys) - 1)
        found = self.keys[pos] == wanted
        return np.where(found, self.rows[pos], 0), found
