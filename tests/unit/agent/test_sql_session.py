"""What the SQL runner sends to make its session read-only and bounded, given what the user may change.

The session views are what clickhouse-connect reads from ``system.settings`` (value, and ``readonly``
= 1 when the user may not change the setting); tests/integration/test_clickhouse_access.py reads the
same view from the engine under the chart's reader profile.
"""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.models import SettingDef

from fraudlake.agent.sql_guard import SqlLimits, UnsafeSessionError, limit_settings, readonly_session_settings

pytestmark = pytest.mark.unit

LIMITS = SqlLimits(max_execution_seconds=5, engine_max_result_rows=50_000, max_memory_bytes=500_000_000)


def session(readonly: str, frozen: bool, **values: str) -> dict[str, SettingDef]:
    """A user's view of system.settings: every limit at `values` (default unlimited), all frozen or not."""
    view = {name: SettingDef(name, values.get(name, "0"), int(frozen)) for name in limit_settings(LIMITS)}
    view["readonly"] = SettingDef("readonly", readonly, int(frozen))
    return view


def test_an_unrestricted_user_gets_the_limits_then_readonly_last() -> None:
    sent = readonly_session_settings(LIMITS, session("0", frozen=False))
    assert sent == {**limit_settings(LIMITS), "readonly": 1}
    assert list(sent)[-1] == "readonly"  # after it ClickHouse would refuse the others


def test_a_readonly_profile_that_bounds_the_limits_gets_nothing() -> None:
    profile = {"max_execution_time": "10", "max_result_rows": "100000", "max_memory_usage": "1000000000"}
    assert readonly_session_settings(LIMITS, session("1", frozen=True, **profile)) == {}


def test_a_readonly_profile_that_leaves_a_limit_unbounded_is_refused() -> None:
    profile = {"max_execution_time": "10", "max_result_rows": "100000"}  # max_memory_usage 0
    with pytest.raises(UnsafeSessionError, match="max_memory_usage"):
        readonly_session_settings(LIMITS, session("1", frozen=True, **profile))


def test_limits_changeable_in_readonly_are_sent_and_readonly_is_not() -> None:
    view = session("1", frozen=False)
    view["readonly"] = SettingDef("readonly", "1", 1)
    assert readonly_session_settings(LIMITS, view) == limit_settings(LIMITS)


def test_a_session_that_cannot_be_made_readonly_is_refused() -> None:
    view = session("0", frozen=False)
    view["readonly"] = SettingDef("readonly", "0", 1)  # a constraint pins readonly at 0
    with pytest.raises(UnsafeSessionError, match="not read-only"):
        readonly_session_settings(LIMITS, view)
