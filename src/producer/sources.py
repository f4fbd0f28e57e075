"""What the producer sends: the users and cards tables plus a stream of transaction tables,
from the generator or from a Kaggle CSV. `fingerprint` identifies the exact record sequence so a
resumed run can refuse a checkpoint that belongs to another source.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from fraudlake.producer.csv_reader import KaggleTransactionReader, ReadReport
from fraudlake.producer.entities import CARDS_FILE, USERS_FILE, CardDirectory, load_cards, load_users
from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator


@dataclass
class Source:
    fingerprint: dict[str, Any]
    users: pa.Table
    cards: pa.Table
    open_transactions: Callable[[], Iterator[pa.Table]]
    total_transactions: int | None = None  # None: unknown until read (CSV) or endless
    csv_report: ReadReport | None = None  # filled while a CSV is read


def generator_source(config: GeneratorConfig, token_key: bytes, data_dir: Path) -> Source:
    """The calibrated generator over the real users/cards in `data_dir`."""
    users = load_users(data_dir / USERS_FILE)
    cards = load_cards(token_key, data_dir / CARDS_FILE)
    generator = TransactionGenerator(config, users=users, cards=cards)
    fingerprint = {
        "kind": "generator",
        "config": json.loads(json.dumps(dataclasses.asdict(config), default=str)),
    }
    return Source(fingerprint, generator.users, generator.cards, generator.chunks, config.rows)


def csv_source(path: Path, token_key: bytes, data_dir: Path) -> Source:
    """A Kaggle transactions CSV replayed unchanged; users/cards from `data_dir`."""
    path = path.resolve()
    users = load_users(data_dir / USERS_FILE)
    cards = load_cards(token_key, data_dir / CARDS_FILE)
    stat = path.stat()
    fingerprint = {"kind": "csv", "path": str(path), "size": stat.st_size, "mtime": int(stat.st_mtime)}
    source = Source(fingerprint, users, cards, lambda: iter(()))

    def open_transactions() -> Iterator[pa.Table]:
        reader = KaggleTransactionReader(path, CardDirectory.from_cards(cards))
        source.csv_report = reader.report
        return reader.batches()

    source.open_transactions = open_transactions
    return source
