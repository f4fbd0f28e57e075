"""Small, deterministic transaction frames for the model tests (seconds, not minutes).

`small_frame` is a toy world with the platform's columns: users own 1-3 cards, cards shop at a few
favourite merchants, and fraud has a graph trace (cards that visited a compromised merchant are
defrauded a few days later, in short bursts), plus timestamp ties, refunds, online rows without a
state and authorization errors — the corner cases the feature paths must agree on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudlake.ml.data import prepare
from fraudlake.producer.entities import USER0_FILE, tabformer_dir

DAY_MS, MIN_MS = 86_400_000, 60_000
USER0_CSV = tabformer_dir() / USER0_FILE


def make_frame(
    rows: int = 6000, days: int = 120, cards: int = 150, merchants: int = 120, seed: int = 1
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    card_user = rng.integers(0, cards // 2, cards)
    favourites = rng.integers(0, merchants, (cards, 4))
    t0 = np.datetime64("2016-01-01T00:00", "ms").astype(np.int64)
    # minute resolution like TabFormer, so same-minute ties happen
    event_ms = t0 + np.sort(rng.integers(0, days * 1440, rows)) * MIN_MS
    card = rng.integers(0, cards, rows)
    merchant = favourites[card, rng.integers(0, 4, rows)]
    fraud = np.zeros(rows, dtype=bool)
    compromised = rng.choice(merchants, 10, replace=False)
    for m, start_day in zip(compromised, np.linspace(8, days - 12, len(compromised)), strict=True):
        start = t0 + int(start_day) * DAY_MS  # spread over time: every split period gets fraud
        visits = (merchant == m) & (event_ms >= start) & (event_ms < start + 10 * DAY_MS)
        for c in np.unique(card[visits])[:8]:
            later = np.flatnonzero((card == c) & (event_ms > start + 3 * DAY_MS))[:3]
            fraud[later] = True
    amount = np.round(rng.lognormal(3.5, 1.0, rows), 2)
    amount[rng.random(rows) < 0.01] *= -1  # refunds
    amount[fraud] = np.round(amount[fraud] * 3, 2)
    use_chip = rng.choice(
        ["Swipe Transaction", "Chip Transaction", "Online Transaction"], rows, p=[0.6, 0.3, 0.1]
    )
    state = rng.choice(["CA", "NY", "TX", "Italy"], rows, p=[0.7, 0.15, 0.1, 0.05]).astype(object)
    state[use_chip == "Online Transaction"] = None
    errors = rng.choice(
        ["", "Insufficient Balance", "Bad PIN", "Technical Glitch"], rows, p=[0.95, 0.03, 0.01, 0.01]
    )
    frame = pd.DataFrame(
        {
            "txn_id": [f"{i:032x}" for i in range(rows)],
            "event_ts": pd.to_datetime(event_ms, unit="ms", utc=True),
            "user_id": card_user[card].astype(str),
            "card_id": [f"{u}-{c}" for u, c in zip(card_user[card], card, strict=True)],
            "merchant_id": (merchant * 7919 + 12345).astype(str),
            "amount": amount,
            "use_chip": use_chip,
            "merchant_city": np.where(use_chip == "Online Transaction", "ONLINE", "Town"),
            "merchant_state": state,
            "mcc": 5000 + merchant % 17,
            "errors": np.where(errors == "", None, errors),
            "is_fraud": fraud,
        }
    )
    return prepare(frame)


@pytest.fixture(scope="session")
def small_frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="session")
def user0_path() -> Path:
    return USER0_CSV


@pytest.fixture(scope="session")
def frame_maker():
    """`make_frame` for tests that need a world of another size (conftest is not importable)."""
    return make_frame
