"""Deterministic transaction ids, topic names and card tokens."""

from __future__ import annotations

import numpy as np
import pytest

from fraudlake.common.card_token import last4, load_token_key, tokenize_pan
from fraudlake.pipeline.naming import pipeline_topics, topic_name
from fraudlake.schemas.ids import TxnIdAssigner

pytestmark = pytest.mark.unit


def _ids(batches: list[tuple[list[int], list[int]]]) -> list[str]:
    """Assign ids for (card, minute) batches of user 0; amount and merchant fixed."""
    assigner, out = TxnIdAssigner(), []
    for cards, minutes in batches:
        n = len(cards)
        out += assigner.assign(
            np.zeros(n), np.array(cards), np.array(minutes), np.full(n, 500), np.full(n, 7)
        ).to_pylist()
    return out


def test_ids_are_32_hex_and_deterministic() -> None:
    first = _ids([([0, 0, 1], [10, 11, 10])])
    assert first == _ids([([0, 0, 1], [10, 11, 10])])
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in first)


def test_identical_purchases_in_one_minute_get_distinct_ids() -> None:
    ids = _ids([([0, 0, 0], [10, 10, 10])])
    assert len(set(ids)) == 3


def test_ids_do_not_depend_on_how_the_stream_is_batched() -> None:
    whole = _ids([([0, 1, 0, 0, 1], [10, 10, 10, 11, 10])])
    split = _ids([([0, 1], [10, 10]), ([0], [10]), ([0, 1], [11, 10])])
    assert whole == split


def test_topic_names_follow_the_design_and_reject_bad_names() -> None:
    assert topic_name("fraud", "demo", "transactions") == "fraudlake.fraud.demo.transactions"
    assert set(pipeline_topics("ns", "p")) == {"transactions", "cards", "users", "alerts"}
    for bad in ("Demo", "-x", "a_b", "a.b"):
        with pytest.raises(ValueError, match="DNS label"):
            topic_name("ns", bad, "transactions")
    with pytest.raises(ValueError, match="unknown stream"):
        topic_name("ns", "p", "payments")


def test_card_tokens_are_keyed_and_never_contain_the_pan() -> None:
    pan = "4344676511950444"
    token = tokenize_pan(pan, b"k" * 32)
    assert token.startswith("tok_")
    assert len(token) == 36
    assert pan not in token
    assert token == tokenize_pan(int(pan), b"k" * 32)
    assert token != tokenize_pan(pan, b"j" * 32)
    assert last4(pan) == "0444"


def test_token_key_comes_from_env_or_a_private_key_file(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FRAUDLAKE_CARD_TOKEN_KEY", raising=False)
    monkeypatch.setenv("FRAUDLAKE_CARD_TOKEN_KEY_FILE", str(tmp_path / "key"))
    key = load_token_key()
    assert key == load_token_key()
    assert len(key) >= 16
    assert (tmp_path / "key").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("FRAUDLAKE_CARD_TOKEN_KEY", "short")
    with pytest.raises(ValueError, match="shorter than"):
        load_token_key()
