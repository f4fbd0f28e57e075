"""The rules of a case, free of I/O: its window and id, its priority, what an analyst may do to it and
which label a disposition gives.

The window is a tumbling UTC day per card (clickhouse/150_case_rollup.sql): a case id is computed from
the alert alone, so alerts arriving late or out of order always join the same case.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

WINDOW = timedelta(days=1)
CASE_ID = r"^case-\d{8}-[A-Za-z0-9_.:-]{1,64}$"
_CASE_ID = re.compile(CASE_ID)

Status = Literal["open", "escalated", "confirmed_fraud", "not_fraud"]
Action = Literal["confirm_fraud", "not_fraud", "escalate"]
STATUSES: tuple[Status, ...] = ("open", "escalated", "confirmed_fraud", "not_fraud")
ACTIONS: tuple[Action, ...] = ("confirm_fraud", "not_fraud", "escalate")

# What each action leaves the case in, and from which statuses it may be taken. A disposition closes
# the case: changing one's mind means a new label, which the issue leaves to chargebacks.
RESULT: dict[Action, Status] = {
    "confirm_fraud": "confirmed_fraud",
    "not_fraud": "not_fraud",
    "escalate": "escalated",
}
ALLOWED_FROM: dict[Action, frozenset[Status]] = {
    "confirm_fraud": frozenset({"open", "escalated"}),
    "not_fraud": frozenset({"open", "escalated"}),
    "escalate": frozenset({"open"}),
}

# Priority 0–100: mostly the model's score, then the money at stake. The amount term saturates at
# $10,000 (log10 = 4) so one huge purchase cannot outrank a near-certain fraud.
SCORE_WEIGHT, AMOUNT_WEIGHT, AMOUNT_SATURATION_LOG10 = 0.7, 0.3, 4.0


class TransitionError(ValueError):
    """The action is not allowed from the case's current status."""


def window_start(at: datetime) -> datetime:
    """The start (UTC midnight) of the window `at` falls in."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    day = at.astimezone(UTC).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def case_id(card_id: str, at: datetime) -> str:
    return f"case-{window_start(at):%Y%m%d}-{card_id}"


@dataclass(frozen=True)
class CaseKey:
    card_id: str
    window_start: datetime

    @property
    def window_end(self) -> datetime:
        return self.window_start + WINDOW


def parse_case_id(value: str) -> CaseKey:
    """The card and window a case id names; ValueError when it is not one."""
    if not _CASE_ID.match(value):
        raise ValueError(f"not a case id: {value!r} (expected case-<yyyymmdd>-<card_id>)")
    _, day, card = value.split("-", 2)
    try:
        start = date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        raise ValueError(f"not a case id: {value!r} ({day} is not a date)") from None
    return CaseKey(card, datetime(start.year, start.month, start.day, tzinfo=UTC))


def priority(max_score: float, max_amount: float) -> int:
    """0–100 from the case's highest score (0–1) and its largest flagged amount (dollars)."""
    score = min(max(max_score, 0.0), 1.0)
    amount = min(math.log10(1 + max(max_amount, 0.0)) / AMOUNT_SATURATION_LOG10, 1.0)
    return round(100 * (SCORE_WEIGHT * score + AMOUNT_WEIGHT * amount))


def priority_sql(score: str, amount: str) -> str:
    """`priority` as a ClickHouse expression of two column expressions (the queue filters and sorts on
    it inside the engine). Both round half away from zero only at exact .5, where float noise decides."""
    return (
        f"toUInt8(round(100 * ({SCORE_WEIGHT} * least(greatest({score}, 0), 1)"
        f" + {AMOUNT_WEIGHT} * least(log10(1 + greatest({amount}, 0)) / {AMOUNT_SATURATION_LOG10}, 1))))"
    )


def next_status(current: Status, action: Action) -> Status:
    """The status `action` leaves a case in; TransitionError when it may not be taken from `current`."""
    if current not in ALLOWED_FROM[action]:
        allowed = [a for a in ACTIONS if current in ALLOWED_FROM[a]]
        raise TransitionError(
            f"cannot {action} a case that is {current}"
            + (f"; allowed: {', '.join(allowed)}" if allowed else " (it is closed)")
        )
    return RESULT[action]


def label_for(action: Action) -> int | None:
    """The fraud label a disposition gives each of the case's flagged transactions (None: no label)."""
    return {"confirm_fraud": 1, "not_fraud": 0}.get(action)
