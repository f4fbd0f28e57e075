"""Numbers, names and reasons in words, as the agent writes them in documents and answers.

Shared by the indexed documents (``fraudlake.agent.documents``), the offline answerer and the
customer notifications, so a figure reads the same wherever the analyst meets it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

MAX_LISTED = 6  # merchants listed in one sentence (the queries fetch no more)


def count(number: Any, noun: str) -> str:
    """`3 cards`, `1 card`: the number with its noun (plural by adding s)."""
    return f"{number} {noun}" if int(number or 0) == 1 else f"{number} {noun}s"


def money(value: Any) -> str:
    amount = float(value or 0)
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "0%"


def channel(use_chip: str | None) -> str:
    return {"Online Transaction": "online purchase", "Chip Transaction": "chip purchase",
            "Swipe Transaction": "swiped purchase"}.get(use_chip or "", "purchase")  # fmt: skip


def merchant_place(city: str | None, state: str | None, mcc: Any) -> str:
    parts = [p for p in (city if city and city != "ONLINE" else "online" if city else None, state) if p]
    if mcc not in (None, 0):
        parts.append(f"MCC {mcc}")
    return f" ({', '.join(parts)})" if parts else ""


def listing(items: Sequence[Any]) -> str:
    shown = [str(i) for i in list(items)[:MAX_LISTED]]
    return ", ".join(shown) + (" and others" if len(items) > MAX_LISTED else "") if shown else "none"


def reason_text(raw: Any, top: int = 3) -> str:
    """The prediction's reasons JSON (list of {feature, contribution…} or {name: value}) in words."""
    if not raw:
        return ""
    try:
        reasons = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return str(raw)[:200]
    if isinstance(reasons, dict):
        reasons = [{"feature": k, "contribution": v} for k, v in reasons.items()]
    words = []
    for reason in list(reasons)[:top]:
        if not isinstance(reason, dict):
            continue
        name = reason.get("description") or reason.get("feature") or reason.get("name") or "?"
        contribution = reason.get("contribution")
        words.append(f"{name} ({float(contribution):+.2f})" if contribution is not None else str(name))
    return "; ".join(words)


def timestamp(value: Any) -> str:
    """`2019-03-05 14:06 UTC` for a datetime (naive ones are UTC); anything else as str()."""
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return str(value)
