"""The bank's own database (PostgreSQL): users and cards as the core banking system keeps them.

Fraudlake does not own this data; it captures its changes (Debezium, spec.sources of a FraudPipeline).
The generator writes the reference data here and then, over time, the changes a bank makes: a user
moves, a card is reissued under a new card id that names the card it replaces, a card is blocked after
confirmed fraud, a credit limit changes. Each change is one transaction and moves ``version`` on, so a
consumer can tell the newer of two row images apart without trusting clocks.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id     text PRIMARY KEY,
    person      text NOT NULL,
    address     text NOT NULL,
    city        text NOT NULL,
    state       text NOT NULL,
    zipcode     text NOT NULL,
    version     bigint NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS cards (
    card_id          text PRIMARY KEY,
    user_id          text NOT NULL REFERENCES users (user_id),
    card_brand       text NOT NULL,
    card_type        text NOT NULL,
    credit_limit     numeric(12, 2) NOT NULL,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked', 'replaced')),
    blocked_reason   text,
    replaces_card_id text REFERENCES cards (card_id),
    version          bigint NOT NULL DEFAULT 1,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- Debezium's update events carry the old row image only with a full replica identity; the primary key
-- (the default) is enough to key the topics, and keeps the WAL small.
"""

CAPTURED_TABLES = ("public.users", "public.cards")
BLOCKED_FOR_FRAUD = "confirmed fraud"


@dataclass(frozen=True)
class BankUser:
    user_id: str
    person: str
    address: str
    city: str
    state: str
    zipcode: str


@dataclass(frozen=True)
class BankCard:
    card_id: str
    user_id: str
    card_brand: str
    card_type: str
    credit_limit: float


class BankDatabase:
    """Writes users and cards into the bank's database, and the changes that happen to them."""

    def __init__(self, conninfo: str) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> BankDatabase:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def create_schema(self) -> None:
        self.conn.execute(SCHEMA)

    def load_reference(self, users: Iterable[BankUser], cards: Iterable[BankCard]) -> None:
        """Insert users and cards (existing ids are left as they are: a rerun adds nothing)."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO users (user_id, person, address, city, state, zipcode)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id) DO NOTHING",
                [(u.user_id, u.person, u.address, u.city, u.state, u.zipcode) for u in users],
            )
            cur.executemany(
                "INSERT INTO cards (card_id, user_id, card_brand, card_type, credit_limit)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (card_id) DO NOTHING",
                [(c.card_id, c.user_id, c.card_brand, c.card_type, c.credit_limit) for c in cards],
            )

    def change_address(self, user_id: str, address: str, city: str, state: str, zipcode: str) -> None:
        self._update(
            "users",
            "user_id",
            user_id,
            {"address": address, "city": city, "state": state, "zipcode": zipcode},
        )

    def change_limit(self, card_id: str, credit_limit: float) -> None:
        self._update("cards", "card_id", card_id, {"credit_limit": credit_limit})

    def block_card(self, card_id: str, reason: str = BLOCKED_FOR_FRAUD) -> None:
        self._update("cards", "card_id", card_id, {"status": "blocked", "blocked_reason": reason})

    def reissue_card(self, old_card_id: str, new_card_id: str) -> None:
        """A new card for the same account, linked to the old one, which is marked replaced (one
        transaction: the CDC stream never shows two active cards for one reissue)."""
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO cards (card_id, user_id, card_brand, card_type, credit_limit, replaces_card_id)"
                " SELECT %s, user_id, card_brand, card_type, credit_limit, card_id FROM cards"
                " WHERE card_id = %s",
                (new_card_id, old_card_id),
            )
            self._update("cards", "card_id", old_card_id, {"status": "replaced"})

    def delete_card(self, card_id: str) -> None:
        self.conn.execute("DELETE FROM cards WHERE card_id = %s", (card_id,))

    def _update(self, table: str, key: str, key_value: str, values: dict[str, Any]) -> None:
        assignments = ", ".join(f"{column} = %s" for column in values)
        cur = self.conn.execute(
            f"UPDATE {table} SET {assignments}, version = version + 1, updated_at = now() WHERE {key} = %s",
            (*values.values(), key_value),
        )
        if cur.rowcount != 1:
            raise LookupError(f"{table} has no {key} {key_value!r}")


def random_change(db: BankDatabase, rng: random.Random, user_ids: Sequence[str], card_ids: list[str]) -> str:
    """Apply one change a bank makes over time to a random user or card; return what it was.

    A reissued card's new id joins `card_ids` (later changes may touch it)."""
    kind = rng.choice(("address", "limit", "reissue", "block"))
    if kind == "address":
        user_id = rng.choice(list(user_ids))
        db.change_address(user_id, f"{rng.randint(1, 9999)} Main Street", "Springfield", "IL", "62701")
    elif kind == "limit":
        db.change_limit(rng.choice(card_ids), float(rng.randrange(500, 50_000, 100)))
    elif kind == "reissue":
        old = rng.choice(card_ids)
        new = f"{old}-r{rng.randrange(1_000_000):06d}"
        db.reissue_card(old, new)
        card_ids.append(new)
    else:
        db.block_card(rng.choice(card_ids))
    return kind
