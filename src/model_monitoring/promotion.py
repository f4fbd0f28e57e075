"""The shadow gate: promote the challenger, or refuse it, on what both models did with the same live traffic.

Evidence: the pipeline's `decisions` where the champion decided and the challenger scored in shadow
(`shadow_*` columns, fraudlake.stream.engine) for transactions old enough for their labels to be known
(one label delay: chargebacks have had time to arrive). A transaction's label is the one known now, by
the training rule (`fraudlake.ml.data.transactions_sql`): an analyst's disposition, else a chargeback,
else the transaction's own `is_fraud`.

Compared on the same transactions:

- AUC-PR of the two scores, with a card-bootstrap 95% interval of the difference (frauds come in bursts
  per card: resampling rows would overstate the evidence);
- the review queue at the analysts' capacity (the top `capacity` share of each model's scores): frauds
  caught and the fraud amount missed, which is what a bank loses;
- alert volume: review or decline by each model's own thresholds (what the analysts would have to open).

The rule, in order (the first that applies states the reason):

1. fewer than `min_frauds` labelled frauds: refused, not enough evidence;
2. AUC-PR lower than the champion's: refused, worse;
3. more fraud amount missed at capacity than the champion beyond `cost_tolerance`: refused, costlier;
4. alert volume up by more than `max_alert_growth`: refused, the queue would not be worked;
5. otherwise promoted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client

from fraudlake.ml import data
from fraudlake.ml.evaluate import card_bootstrap, ranking_metrics

FLAGGED = ("review", "decline")


@dataclass(frozen=True)
class GatePolicy:
    capacity: float = 0.01  # share of transactions the analysts' queue holds
    min_frauds: int = 20
    cost_tolerance: float = 0.0  # the challenger may miss this share more fraud amount at capacity
    max_alert_growth: float = 0.5  # alert volume may grow by this share
    label_delay: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class ModelSide:
    version: str
    auc_pr: float
    caught_at_capacity: int
    missed_amount_at_capacity: float
    alerts: int


@dataclass(frozen=True)
class ShadowVerdict:
    promote: bool
    reason: str
    champion: ModelSide | None
    challenger: ModelSide | None
    transactions: int
    frauds: int
    auc_pr_difference_ci: list[float]  # challenger − champion, 95%
    period_end: datetime  # transactions decided up to here were labelled and counted

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"period_end": self.period_end.isoformat()}


@dataclass(frozen=True)
class ShadowRows:
    """The labelled shadow period: one entry per transaction both models scored."""

    card_ids: np.ndarray
    amounts: np.ndarray
    labels: np.ndarray
    champion_scores: np.ndarray
    challenger_scores: np.ndarray
    champion_alerts: int
    challenger_alerts: int


def shadow_rows(
    client: Client, database: str, champion: str, challenger: str, labelled_until: datetime
) -> ShadowRows:
    """Decisions by `champion` with `challenger` in shadow, up to `labelled_until`, with their labels."""
    labels = data.transactions_sql(
        database, "event_ts <= {end:DateTime64(3, 'UTC')}", labels=data.has_labels(client, database)
    )
    rows = client.query(
        f"""SELECT d.card_id, d.amount, t.is_fraud, d.score, d.shadow_score,
                   d.decision IN {FLAGGED}, d.shadow_decision IN {FLAGGED}
            FROM {database}.decisions AS d FINAL
            INNER JOIN ({labels}) AS t ON t.txn_id = d.txn_id
            WHERE d.model_version = {{champion:String}} AND d.shadow_model_version = {{challenger:String}}
              AND d.shadow_score IS NOT NULL AND d.event_ts <= {{end:DateTime64(3, 'UTC')}}""",
        parameters={"champion": champion, "challenger": challenger, "end": labelled_until},
    ).result_rows
    columns = list(zip(*rows, strict=True)) if rows else [()] * 7
    return ShadowRows(
        card_ids=np.asarray(columns[0], dtype=object),
        amounts=np.asarray(columns[1], dtype=np.float64),
        labels=np.asarray(columns[2], dtype=bool),
        champion_scores=np.asarray(columns[3], dtype=np.float64),
        challenger_scores=np.asarray(columns[4], dtype=np.float64),
        champion_alerts=int(sum(columns[5])),
        challenger_alerts=int(sum(columns[6])),
    )


def at_capacity(
    scores: np.ndarray, labels: np.ndarray, amounts: np.ndarray, capacity: float
) -> tuple[int, float]:
    """(frauds caught, fraud amount missed) by a queue of the top `capacity` share of `scores`."""
    queue = max(1, int(np.ceil(capacity * len(scores))))
    order = np.argsort(-scores, kind="stable")
    queued = np.zeros(len(scores), dtype=bool)
    queued[order[:queue]] = True
    caught = int((queued & labels).sum())
    missed = float(amounts[~queued & labels].sum())
    return caught, round(missed, 2)


def judge(
    rows: ShadowRows, champion: str, challenger: str, policy: GatePolicy, period_end: datetime
) -> ShadowVerdict:
    """The gate's verdict on the labelled shadow period (the module's rule)."""
    frauds, n = int(rows.labels.sum()), len(rows.labels)
    if frauds < policy.min_frauds or frauds == n:
        reason = (
            f"not enough evidence: {frauds} labelled frauds among {n} shadowed transactions"
            f" (the gate needs at least {policy.min_frauds})"
        )
        return ShadowVerdict(False, reason, None, None, n, frauds, [], period_end)
    sides = []
    for version, scores, alerts in (
        (champion, rows.champion_scores, rows.champion_alerts),
        (challenger, rows.challenger_scores, rows.challenger_alerts),
    ):
        caught, missed = at_capacity(scores, rows.labels, rows.amounts, policy.capacity)
        auc_pr = ranking_metrics(rows.labels.astype(int), scores)["auc_pr"]
        sides.append(ModelSide(version, round(auc_pr, 4), caught, missed, alerts))
    old, new = sides
    interval = card_bootstrap(
        rows.labels.astype(int),
        {"challenger": rows.challenger_scores, "champion": rows.champion_scores},
        rows.card_ids,
        [("challenger", "champion")],
    )["challenger-champion"]
    difference = (
        f"AUC-PR {new.auc_pr:.4f} vs champion {old.auc_pr:.4f} (95% CI of the difference {_ci(interval)})"
    )
    misses = f"${new.missed_amount_at_capacity:,.2f} vs ${old.missed_amount_at_capacity:,.2f}"
    if new.auc_pr < old.auc_pr:
        promote, reason = False, f"worse: {difference}"
    elif new.missed_amount_at_capacity > old.missed_amount_at_capacity * (1 + policy.cost_tolerance):
        promote = False
        reason = (
            f"costlier at the review capacity ({policy.capacity:.1%}): misses {misses} of fraud; {difference}"
        )
    elif new.alerts > old.alerts * (1 + policy.max_alert_growth):
        promote = False
        reason = (
            f"alerts {new.alerts} vs {old.alerts}: more than +{policy.max_alert_growth:.0%}; {difference}"
        )
    else:
        promote = True
        reason = (
            f"{difference}; at capacity catches {new.caught_at_capacity} vs {old.caught_at_capacity} frauds"
            f" (misses {misses}); alerts {new.alerts} vs {old.alerts}"
        )
    return ShadowVerdict(promote, reason, old, new, n, frauds, interval, period_end)


def evaluate_challenge(
    client: Client, database: str, champion: str, challenger: str, now: datetime, policy: GatePolicy
) -> ShadowVerdict:
    """The verdict on the shadow period whose labels are known at `now`."""
    period_end = now - policy.label_delay
    rows = shadow_rows(client, database, champion, challenger, period_end)
    return judge(rows, champion, challenger, policy, period_end)


def _ci(interval: list[float]) -> str:
    return f"[{interval[0]:+.4f}, {interval[1]:+.4f}]" if interval else "not computed"


def settle_challenge(
    client: Client, database: str, registry: Any, now: datetime, policy: GatePolicy
) -> dict[str, Any]:
    """Run the gate on the registry's challenger and act on it: promote it, end the challenge when it is
    refused on the evidence, or keep it in shadow while the evidence is too thin. The verdict, as a dict
    with `action` (promoted / refused / shadowing / none)."""
    challenger, champion = registry.challenger(), registry.champion()
    if challenger is None or champion is None:
        return {"action": "none", "reason": "no challenger in shadow" if champion else "no champion"}
    verdict = evaluate_challenge(client, database, champion["version"], challenger["version"], now, policy)
    if verdict.promote:
        registry.promote_challenger(challenger["version"], verdict.reason)
        action = "promoted"
    elif verdict.champion is None:  # too few labelled frauds yet: keep collecting
        action = "shadowing"
    else:
        registry.end_challenge(f"refused: {verdict.reason}")
        action = "refused"
    return {"action": action, **verdict.as_dict()}
