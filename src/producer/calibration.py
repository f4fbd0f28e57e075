"""What the generator learns from the real User0 stream (19,963 transactions, 2002-2020).

Marginals only, measured once at start-up from the real file:
- hour of day (User0 shops early: 46% of transactions fall in the 06:00 hour),
- channel: the online share, and the chip share of in-store transactions once chip readers
  exist (User0: none before 2015, about half after, on chip cards only),
- merchant category mix per channel (online categories differ from in-store ones),
- the amount distribution per MCC as its empirical quantile function (101 points), which keeps
  refunds (`$-88.00`) and the category's skew,
- authorization error strings and their rates per channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraudlake.producer.csv_reader import KaggleTransactionReader
from fraudlake.producer.entities import USER0_FILE, CardDirectory, load_cards, tabformer_dir

ONLINE, SWIPE, CHIP = "Online Transaction", "Swipe Transaction", "Chip Transaction"
QUANTILE_POINTS = 101
_CALIBRATION_KEY = b"calibration-only-key-never-emitted"


@dataclass(frozen=True)
class ChannelMix:
    mcc: np.ndarray  # MCC codes
    mcc_probs: np.ndarray
    errors: tuple[str | None, ...]  # None = no error
    error_probs: np.ndarray


@dataclass(frozen=True)
class Calibration:
    hour_probs: np.ndarray  # 24
    online_share: float
    chip_era_start_year: int
    chip_share_in_chip_era: float  # of in-store transactions on chip cards
    online: ChannelMix
    in_store: ChannelMix
    mcc_codes: np.ndarray  # sorted; row i of amount_quantiles belongs to mcc_codes[i]
    amount_quantiles: np.ndarray  # (len(mcc_codes), QUANTILE_POINTS)
    fraud_rate: float

    def mcc_rows(self, mcc: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.mcc_codes, mcc)


def calibrate(user0: pa.Table) -> Calibration:
    """Measure the marginals above on a TRANSACTIONS table (normally User0's real stream)."""
    hour = pc.cast(pc.utf8_slice_codeunits(user0["time"], 0, 2), pa.int64()).to_numpy()
    hour_probs = np.bincount(hour, minlength=24) / len(hour)
    chip = user0["use_chip"].to_numpy(zero_copy_only=False)
    year = user0["year"].to_numpy()
    online = chip == ONLINE
    chip_years = year[chip == CHIP]
    era_start = int(chip_years.min()) if len(chip_years) else 9999
    in_era_store = ~online & (year >= era_start)
    chip_share = float((chip[in_era_store] == CHIP).mean()) if in_era_store.any() else 0.0
    mcc = user0["mcc"].to_numpy()
    amount = user0["amount"].to_numpy()
    errors = np.array(user0["errors"].to_pylist(), dtype=object)
    codes = np.unique(mcc)
    quantiles = np.stack(
        [np.quantile(amount[mcc == code], np.linspace(0, 1, QUANTILE_POINTS)) for code in codes]
    )
    return Calibration(
        hour_probs=hour_probs,
        online_share=float(online.mean()),
        chip_era_start_year=era_start,
        chip_share_in_chip_era=chip_share,
        online=_channel_mix(mcc[online], errors[online]),
        in_store=_channel_mix(mcc[~online], errors[~online]),
        mcc_codes=codes,
        amount_quantiles=quantiles,
        fraud_rate=float(user0["is_fraud"].to_numpy().mean()),
    )


def _channel_mix(mcc: np.ndarray, errors: np.ndarray) -> ChannelMix:
    codes, counts = np.unique(mcc, return_counts=True)
    labels = ["" if e is None else e for e in errors]
    kinds, kind_counts = np.unique(labels, return_counts=True)
    return ChannelMix(
        mcc=codes,
        mcc_probs=counts / counts.sum(),
        errors=tuple(None if k == "" else str(k) for k in kinds),
        error_probs=kind_counts / kind_counts.sum(),
    )


def sample_amounts(cal: Calibration, mcc_rows: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Amounts drawn from each MCC's empirical quantile function, rounded to cents."""
    position = uniform * (QUANTILE_POINTS - 1)
    low = np.minimum(position.astype(np.int64), QUANTILE_POINTS - 2)
    frac = position - low
    q = cal.amount_quantiles
    values = q[mcc_rows, low] * (1 - frac) + q[mcc_rows, low + 1] * frac
    return np.round(values, 2)


def read_user0(path: Path | None = None) -> pa.Table:
    """User0's real stream as one TRANSACTIONS table (tokens under a throw-away key)."""
    cards = CardDirectory.from_cards(load_cards(_CALIBRATION_KEY))
    reader = KaggleTransactionReader(path or tabformer_dir() / USER0_FILE, cards)
    return pa.concat_tables(list(reader.batches()))


@lru_cache(maxsize=4)
def default_calibration(path: Path | None = None) -> Calibration:
    return calibrate(read_user0(path))
