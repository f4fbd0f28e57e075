"""The backtest's SQL builders: which rules they evaluate, the windows' frames, the columns the runner
reads, and the parameters. (tests/integration/test_rule_backtest.py runs them on ClickHouse.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fraudlake.pipeline.spec import SEED_RULES, Rule
from fraudlake.rule_backtest import sql

BURST = Rule(name="burst", type="SpendBurst", window_minutes=10, min_count=2)
FAST = Rule(name="fast", type="Velocity", window_minutes=5, min_count=11)
SLOW = Rule(name="slow", type="Velocity", window_minutes=60, min_count=4)
OFF = Rule(name="off", type="Velocity", window_minutes=1440, min_count=1, enabled=False)


def _flags(query: str) -> dict[str, str]:
    """The per-rule Bool columns of the outer SELECT: alias → condition."""
    return {alias: cond for cond, alias in re.findall(r"^\s+(\(.*\)) AS ([ck]\d+),?$", query, re.M)}


def test_flags_follow_the_enabled_rules_in_order_candidate_then_current() -> None:
    query = sql.firings_sql("fraud", [BURST, OFF, FAST], [SLOW])
    flags = _flags(query)
    assert list(flags) == ["c0", "c1", "k0"]
    assert flags["c0"] == "(n_10 >= 2 AND user_n > 0 AND cents_10 / 100 > (user_cents / user_n) / 100)"
    assert flags["c1"] == "(n_5 >= 11)"
    assert flags["k0"] == "(n_60 >= 4)"
    assert "n_1440" not in query  # the disabled rule's window is never computed


def test_one_range_frame_per_distinct_window_ending_at_the_current_row() -> None:
    same = Rule(name="same", type="Velocity", window_minutes=10, min_count=3)
    query = sql.firings_sql("fraud", [BURST, same], [BURST])
    frames = re.findall(r"w(\d+) AS \(PARTITION BY card_id ORDER BY ms RANGE BETWEEN (\d+) PRECEDING", query)
    # (t - 10 min, t] in integer milliseconds: 599 999 ms back, the current row's peers included …
    assert frames == [("10", "599999")]
    # … and the peers after the current row (same card and millisecond, later txn_id) taken off.
    assert "n_all_10 - later_n AS n_10" in query
    assert "peers_so_far AS (PARTITION BY card_id, ms ORDER BY txn_id" in query


def test_the_users_average_is_over_every_earlier_transaction_of_the_table() -> None:
    query = sql.firings_sql("fraud", [BURST])
    assert "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING" in query
    assert "b.n_before + count() OVER user_before AS user_n" in query
    assert "WHERE event_ts < fromUnixTimestamp64Milli({history_ms:Int64}, 'UTC')" in query  # the baseline
    assert "toInt64(round(amount * 100))" in query  # whole cents, half to even like the online state


def test_labels_come_first_analysts_before_chargebacks() -> None:
    query = sql.firings_sql("fraud", [BURST])
    assert "argMax(label, (source = 'analyst', known_at)) AS label" in query
    assert "if(t.label_source != '', t.label = 1, f.is_fraud = 1) AS fraud" in query
    assert "FROM fraud.labels" in query
    assert "FROM fraud.transactions FINAL" in query


def test_summary_counts_the_change_only_against_rules_in_force() -> None:
    alone = sql.summary_sql("fraud", SEED_RULES)
    for column in ("c0_alerts", "c1_caught", "c_alerts"):
        assert f"AS {column}" in alone
    for column in ("k_alerts", "added_alerts"):
        assert f"AS {column}" not in alone
    compared = sql.summary_sql("fraud", [BURST], [SLOW, FAST])
    for column in ("k0_alerts", "k1_caught", "k_alerts", "added_alerts", "dropped_caught"):
        assert f"AS {column}" in compared
    assert "countIf((c0) AND NOT (k0 OR k1)) AS added_alerts" in compared
    # No rule in force (an empty set, not unset): nothing of theirs alerts.
    assert "countIf((c0) AND NOT (false)) AS added_alerts" in sql.summary_sql("fraud", [BURST], [])


def test_parameters_reach_back_by_the_longest_enabled_window() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    params = sql.query_parameters(start, start + timedelta(days=1), [BURST, SLOW, OFF])
    start_ms = int(start.timestamp() * 1000)
    assert params == {
        "start_ms": start_ms,
        "end_ms": start_ms + 86_400_000,
        "history_ms": start_ms - 3_600_000,
    }
    # Naive times are UTC; aware ones are converted.
    assert sql.query_parameters(start.replace(tzinfo=None), start + timedelta(hours=1), [BURST]) == (
        sql.query_parameters(
            start.astimezone(timezone(timedelta(hours=2))), start + timedelta(hours=1), [BURST]
        )
    )
    with pytest.raises(ValueError, match="empty"):
        sql.query_parameters(start, start, [BURST])


def test_the_database_name_must_be_an_identifier() -> None:
    with pytest.raises(ValueError, match="identifier"):
        sql.firings_sql("fraud; DROP TABLE x", [BURST])
