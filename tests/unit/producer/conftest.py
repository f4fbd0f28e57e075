"""Shared, session-scoped inputs for the producer tests: the real tables and one generated set."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pytest

from fraudlake.producer.calibration import read_user0
from fraudlake.producer.entities import CardDirectory, load_cards, load_users
from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator

TEST_TOKEN_KEY = b"unit-tests-token-key-0123456789"


@dataclass
class Generated:
    generator: TransactionGenerator
    table: pa.Table


@pytest.fixture(scope="session")
def users() -> pa.Table:
    return load_users()


@pytest.fixture(scope="session")
def cards() -> pa.Table:
    return load_cards(TEST_TOKEN_KEY)


@pytest.fixture(scope="session")
def card_directory(cards: pa.Table) -> CardDirectory:
    return CardDirectory.from_cards(cards)


@pytest.fixture(scope="session")
def user0() -> pa.Table:
    return read_user0()


@pytest.fixture(scope="session")
def generated(users: pa.Table, cards: pa.Table) -> Generated:
    """1.5M rows (about 40 weeks of the real population) with the default fraud configuration."""
    generator = TransactionGenerator(GeneratorConfig(seed=11, rows=1_500_000), users=users, cards=cards)
    return Generated(generator, pa.concat_tables(generator.chunks()))
