"""The service's online state: the feature spec's per-card/user/merchant history plus the rule windows.

Fed by every scored transaction and, when configured, by the transactions topic and a ClickHouse cold
start. A transaction id enters the history once, whichever source brings it first, so a transaction
that is both scored and consumed from Kafka is not counted twice.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fraudlake.ml.features import FEATURE_NAMES, FeatureConfig, assemble_rows
from fraudlake.ml.online import OnlineFeatureState, event_ms
from fraudlake.pipeline.spec import Rule
from fraudlake.scoring.models import RuleHit
from fraudlake.scoring.rules import RuleEngine

_USER_MEAN_ALL = FEATURE_NAMES.index("user_mean_all")


class ServingState:
    """Thread-safe wrapper: request handlers, the batch thread and the Kafka feed share one instance."""

    def __init__(self, config: FeatureConfig, rules: Sequence[Rule], max_seen: int = 200_000):
        self.config = config
        self._features = OnlineFeatureState(config)
        self._rules = RuleEngine(rules)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._max_seen = max_seen
        self._lock = threading.Lock()

    def score_inputs(self, txn: Mapping[str, Any]) -> tuple[np.ndarray, list[RuleHit]]:
        """Tabular features (1 × FEATURE_NAMES) and fired rules from the history before `txn`; then
        `txn` joins the history (unless its id was seen before)."""
        t = int(txn["event_ms"])
        cents = round(float(txn["amount"]) * 100)
        with self._lock:
            x = self._features.features(txn)
            hits = self._rules.evaluate(txn["card_id"], t, cents, float(x[0, _USER_MEAN_ALL]))
            self._observe_locked(txn, t, cents)
        return x, hits

    def score_inputs_many(self, txns: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, list[list[RuleHit]]]:
        """`score_inputs` of each transaction in order, with the features assembled as one batch:
        rows × FEATURE_NAMES, equal to the rows `score_inputs` gives one by one.

        The feature history and the rule windows are separate states, so each is run over the batch in
        turn: the features (each row from the history before it, then it joins), then the rules, which
        read a feature (the user's mean amount) of their row.
        """
        times = [int(txn["event_ms"]) for txn in txns]
        cents = [round(float(txn["amount"]) * 100) for txn in txns]
        with self._lock:
            fields, raws, fresh = [], [], []
            for txn in txns:
                own, raw = self._features.inputs(txn)
                fields.append(own)
                raws.append(raw)
                fresh.append(self._first_sight(txn.get("txn_id")))
                if fresh[-1]:
                    self._features.update(txn)
            x = assemble_rows(fields, raws, self.config)
            hits = []
            for txn, t, amount, mean, new in zip(
                txns, times, cents, x[:, _USER_MEAN_ALL].tolist(), fresh, strict=True
            ):
                hits.append(self._rules.evaluate(txn["card_id"], t, amount, mean))
                if new:
                    self._rules.observe(txn["card_id"], t, amount)
        return x, hits

    def observe(self, txn: Mapping[str, Any]) -> bool:
        """Add a transaction seen elsewhere (topic, cold start); False when its id is already known.

        `txn` may carry `is_fraud` (a labelled replay): like training, the label counts only after the
        feature spec's label delay.
        """
        t = event_ms(txn["event_ms"] if "event_ms" in txn else txn["event_ts"])
        record = {**txn, "event_ms": t}
        with self._lock:
            return self._observe_locked(record, t, round(float(txn["amount"]) * 100))

    def _observe_locked(self, txn: Mapping[str, Any], t: int, cents: int) -> bool:
        if not self._first_sight(txn.get("txn_id")):
            return False
        self._features.update(txn)
        self._rules.observe(txn["card_id"], t, cents)
        return True

    def _first_sight(self, txn_id: str | None) -> bool:
        """Whether the transaction is new to the history (remembering its id); no id: always new."""
        if txn_id is None:
            return True
        if txn_id in self._seen:
            return False
        self._seen[txn_id] = None
        if len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)
        return True
