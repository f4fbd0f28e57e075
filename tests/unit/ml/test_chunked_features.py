"""The chunked feature path equals the in-memory batch path on the same rows, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudlake.ml import data
from fraudlake.ml.batch_features import batch_features
from fraudlake.ml.chunked_features import chunked_features, frame_chunks, parquet_chunks
from fraudlake.ml.features import FEATURE_NAMES, FeatureConfig

pytestmark = pytest.mark.unit
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
# Short reach (1-day label delay, 7-day norm) so most history is carried, not in the tail.
SHORT = FeatureConfig(label_delay_ms=86_400_000, user_norm_window_ms=7 * 86_400_000)


@pytest.mark.parametrize("config", [FeatureConfig(), SHORT], ids=["default", "short-reach"])
@pytest.mark.parametrize("rows", [7, 400, 2500])
def test_chunked_features_equal_the_in_memory_path(small_frame: pd.DataFrame, config, rows: int) -> None:
    frame = small_frame.iloc[:1500] if rows == 7 else small_frame
    memory = batch_features(data.columns(frame), config)
    chunked = np.vstack(list(chunked_features(frame_chunks(frame, rows), config)))
    np.testing.assert_array_equal(chunked, memory)  # bit-equal, NaN == NaN


def test_carried_history_is_exercised(small_frame: pd.DataFrame) -> None:
    """With a 7-day reach over 120 days, late rows' all-history counts come mostly from the carry."""
    x = np.vstack(list(chunked_features(frame_chunks(small_frame, 500), SHORT)))
    late = x[-500:]
    assert late[:, COL["card_prior_txns"]].min() > late[:, COL["card_count_7d"]].max()
    assert late[:, COL["merchant_known_frauds"]].max() > 0
    assert late[:, COL["user_state_jump"]].sum() > 0


def test_parquet_chunks_keep_ties_in_the_whole_file_s_order(small_frame: pd.DataFrame, tmp_path) -> None:
    path = tmp_path / "txns.parquet"
    raw = small_frame.drop(columns=["event_ms"]).sample(frac=1.0, random_state=3)
    raw = raw.sort_values("event_ts", kind="stable")  # time order, ties NOT in txn_id order
    raw.to_parquet(path)
    chunks = list(parquet_chunks(path, rows=333))
    joined = pd.concat(chunks, ignore_index=True)
    assert len(chunks) > 10
    pd.testing.assert_frame_equal(joined, data.read_file(path))
    memory = batch_features(data.columns(data.read_file(path)), SHORT)
    np.testing.assert_array_equal(np.vstack(list(chunked_features(iter(chunks), SHORT))), memory)
