"""The pipeline's window rules (the seeds' rules, `FraudPipeline.spec.rules`), evaluated per transaction.

ClickHouse materializes the same rules as views over tumbling windows (`clickhouse/070_rule_views.sql`);
the API evaluates them over the sliding window that ends at the transaction being scored, which is
what a real-time decision can see. A window holds the card's earlier transactions with event time in
(t - window, t] plus the transaction itself.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from fraudlake.ml.online import AmountHistory
from fraudlake.pipeline.spec import Rule
from fraudlake.scoring.models import RuleHit

MINUTE_MS = 60_000
_NO_HISTORY = AmountHistory()  # a card seen for the first time (only read)


class RuleEngine:
    """Per-card recent history (as long as the longest rule window) and the rules over it. Not thread-safe:
    the caller (`state.ServingState`) serializes access."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = tuple(rule for rule in rules if rule.enabled)
        self.reach_ms = max((rule.window_minutes * MINUTE_MS for rule in self.rules), default=0)
        self._recent: dict[str, AmountHistory] = defaultdict(AmountHistory)

    def evaluate(self, card_id: str, t_ms: int, cents: int, user_average: float) -> list[RuleHit]:
        """Rules that fire for a transaction, given the user's average spending before it (NaN: none)."""
        recent = self._recent.get(card_id, _NO_HISTORY)
        hits = []
        for rule in self.rules:
            earlier, earlier_cents, _ = recent.since(t_ms - rule.window_minutes * MINUTE_MS)
            count, total = earlier + 1, earlier_cents + cents
            if count < rule.min_count:
                continue
            if rule.type == "Velocity":
                hits.append(
                    RuleHit(
                        rule=rule.name,
                        type="Velocity",
                        message=(
                            f"{count} transactions on this card within {rule.window_minutes} minutes "
                            f"(rule: at least {rule.min_count})"
                        ),
                    )
                )
            elif not math.isnan(user_average) and total / 100 > user_average:
                hits.append(
                    RuleHit(
                        rule=rule.name,
                        type="SpendBurst",
                        message=(
                            f"{count} transactions on this card within {rule.window_minutes} minutes "
                            f"totalling ${total / 100:,.2f}, above the user's average spending of "
                            f"${user_average:,.2f}"
                        ),
                    )
                )
        return hits

    def observe(self, card_id: str, t_ms: int, cents: int) -> None:
        """Add a transaction to the card's recent history."""
        if not self.rules:
            return
        recent = self._recent[card_id]
        recent.add(t_ms, cents)
        recent.forget_until(t_ms - self.reach_ms)
