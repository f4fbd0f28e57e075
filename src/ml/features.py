"""The one feature spec: names, meanings and the shared arithmetic of training and serving.

Two paths compute the same *raw aggregates* over a transaction's history: `batch_features`
(vectorized over a time-sorted frame, for training) and `online.OnlineFeatureState` (incremental,
for the API). Both hand them to `assemble`, which alone turns aggregates into feature values, so
the paths cannot drift apart in arithmetic. Money is summed in integer cents so that window sums are
exact in both paths.

History rule (the no-leakage contract): a transaction's features use only transactions that came
*before it* in time order (ties broken by arrival order) plus its own fields; fraud labels are used
only for transactions at least `label_delay_ms` older than it (labels arrive late: chargebacks).

This module imports numpy only: the API imports it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

SPEC_VERSION = 2  # 2: merchant nodes carry common-point-of-purchase features
MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000

# Sliding windows over the entity's earlier transactions (event time in (t - window, t]).
WINDOWS_MS: dict[str, int] = {"10m": 10 * MINUTE_MS, "1h": HOUR_MS, "24h": DAY_MS, "7d": 7 * DAY_MS}
VELOCITY_WINDOWS: dict[str, tuple[str, ...]] = {
    "card": ("10m", "1h", "24h", "7d"),
    "user": ("1h", "24h", "7d"),
}
ONLINE = "Online Transaction"
CHIP = "Chip Transaction"
CREDENTIAL_ERRORS = ("Bad CVV", "Bad Card Number", "Bad Expiration", "Bad PIN", "Bad Zipcode")


@dataclass(frozen=True)
class FeatureConfig:
    """Tunable parameters of the spec; stored with the model so serving uses the same."""

    label_delay_ms: int = 7 * DAY_MS  # a fraud label is known this long after the transaction
    user_norm_window_ms: int = 30 * DAY_MS  # the user's "normal" spending: mean/std over this window
    risk_prior_txns: float = 20.0  # shrinks a merchant's fraud rate towards 0 until it has history

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Feature:
    """One model input; `description` is the words an analyst sees when it drives a score."""

    name: str
    description: str
    group: str  # transaction | velocity | norm | novelty | risk | graph


def _velocity_features() -> list[Feature]:
    out = []
    for entity, windows in VELOCITY_WINDOWS.items():
        for window in windows:
            out.append(
                Feature(
                    f"{entity}_count_{window}",
                    f"transactions on this {entity} in the previous {window}",
                    "velocity",
                )
            )
            out.append(
                Feature(
                    f"{entity}_sum_{window}",
                    f"dollars spent on this {entity} in the previous {window}",
                    "velocity",
                )
            )
    return out


FEATURES: tuple[Feature, ...] = (
    Feature("amount", "transaction amount in dollars (negative for refunds)", "transaction"),
    Feature("hour", "hour of day of the transaction", "transaction"),
    Feature("day_of_week", "day of week (0 = Monday)", "transaction"),
    Feature("is_online", "online (card-not-present) transaction", "transaction"),
    Feature("is_chip", "chip transaction", "transaction"),
    Feature("mcc", "merchant category code", "transaction"),
    Feature("is_foreign", "merchant outside the US", "transaction"),
    Feature(
        "error_credentials",
        "authorization error on card credentials (CVV, number, expiry, PIN)",
        "transaction",
    ),
    Feature("error_balance", "authorization error: insufficient balance", "transaction"),
    Feature("error_other", "other authorization error", "transaction"),
    *_velocity_features(),
    Feature("card_secs_since_last", "seconds since this card's previous transaction", "velocity"),
    Feature("user_secs_since_last", "seconds since this user's previous transaction", "velocity"),
    Feature("user_mean_30d", "user's mean transaction amount over 30 days", "norm"),
    Feature("user_std_30d", "spread of the user's amounts over 30 days", "norm"),
    Feature("amount_over_user_mean", "amount relative to the user's 30-day mean", "norm"),
    Feature("amount_zscore_user", "amount in standard deviations from the user's 30-day norm", "norm"),
    Feature("user_mean_all", "user's average spending over all earlier transactions", "norm"),
    Feature("card_prior_txns", "earlier transactions on this card", "novelty"),
    Feature(
        "card_merchant_prior_txns",
        "earlier visits of this card to this merchant (0 = new merchant)",
        "novelty",
    ),
    Feature("card_mcc_prior_txns", "earlier transactions of this card in this merchant category", "novelty"),
    Feature(
        "card_state_prior_txns", "earlier transactions of this card in this state (0 = new place)", "novelty"
    ),
    Feature("user_state_jump", "state differs from the user's previous in-person transaction", "novelty"),
    Feature("merchant_prior_txns", "earlier transactions at this merchant (all cards)", "novelty"),
    Feature(
        "merchant_known_frauds", "confirmed frauds at this merchant (labels older than the delay)", "risk"
    ),
    Feature(
        "merchant_fraud_rate", "confirmed fraud rate at this merchant, shrunk for little history", "risk"
    ),
    Feature("card_known_frauds", "confirmed frauds on this card (labels older than the delay)", "risk"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
GRAPH_NODE_KINDS = ("card", "merchant", "user")


def graph_features(dim: int) -> tuple[Feature, ...]:
    """Columns the graph model adds: each node's GraphSAGE risk score, then its embedding."""
    risks = tuple(
        Feature(
            f"graph_{kind}_risk",
            f"graph risk of the {kind}: its links to cards and merchants with confirmed fraud (GraphSAGE)",
            "graph",
        )
        for kind in GRAPH_NODE_KINDS
    )
    dims = tuple(
        Feature(f"graph_{kind}_{i}", f"graph embedding of the {kind} (component {i})", "graph")
        for kind in GRAPH_NODE_KINDS
        for i in range(dim)
    )
    return risks + dims


# Raw aggregates both paths must produce: integer counts/cents, -1 for "no earlier transaction".
RAW_AGGREGATES: tuple[str, ...] = (
    *[f"{e}_{kind}_{w}" for e, ws in VELOCITY_WINDOWS.items() for w in ws for kind in ("count", "cents")],
    "card_last_ms",
    "user_last_ms",
    "user_norm_count",
    "user_norm_cents",
    "user_norm_cents_sq",
    "user_all_count",
    "user_all_cents",
    "card_prior",
    "card_merchant_prior",
    "card_mcc_prior",
    "card_state_prior",
    "user_state_jump",
    "merchant_prior",
    "merchant_known_count",
    "merchant_known_frauds",
    "card_known_frauds",
)


def spec_json(config: FeatureConfig, graph_dim: int | None) -> dict[str, Any]:
    """The spec as stored in the model artifact (serving checks the version and reuses the config).

    `features` lists the model's input columns in order; `graph_dim` None means no graph columns.
    """
    columns = FEATURES + (graph_features(graph_dim) if graph_dim else ())
    return {
        "version": SPEC_VERSION,
        "config": config.to_json(),
        "windows_ms": WINDOWS_MS,
        "graph_dim": graph_dim,
        "features": [asdict(f) for f in columns],
    }


def to_cents(amount: np.ndarray) -> np.ndarray:
    """Dollar amounts → integer cents (amounts carry two decimals)."""
    return np.rint(np.asarray(amount, dtype=np.float64) * 100.0).astype(np.int64)


def state_code(merchant_state: Any) -> str:
    """The merchant's state as compared for novelty: '' for online / missing."""
    return "" if merchant_state is None or merchant_state != merchant_state else str(merchant_state)


@functools.lru_cache(maxsize=4096)
def _text_flags(errors: str, merchant_state: str) -> tuple[float, float, float, float]:
    """(credential error, balance error, other error, foreign merchant) of one pair of text fields."""
    cred = float(any(c in errors for c in CREDENTIAL_ERRORS))
    balance = float("Insufficient Balance" in errors)
    other = float(errors not in _EMPTY and not cred and not balance)
    foreign = float(len(merchant_state) > 2 and merchant_state not in _EMPTY)
    return cred, balance, other, foreign


_EMPTY = ("", "None", "nan")


def _flags(errors: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Rows × 4 flags of `_text_flags`, evaluated once per distinct (errors, state) pair."""
    pairs = np.char.add(np.char.add(errors.astype(str), "\x1f"), states.astype(str))
    uniq, idx = np.unique(pairs, return_inverse=True)
    table = np.array([_text_flags(*u.split("\x1f", 1)) for u in uniq], dtype=np.float64).reshape(-1, 4)
    return table[idx.reshape(-1)]


def transaction_fields(cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Features of the transaction alone (no history): vectorized over arrays of the schema's columns."""
    event_ms = np.asarray(cols["event_ms"], dtype=np.int64)
    errors = np.asarray(cols["errors"], dtype=object)
    states = np.asarray(cols["merchant_state"], dtype=object)
    if len(errors) == 1:  # the serving path: skip the vectorized machinery
        flags = np.array([_text_flags(str(errors[0]), str(states[0]))], dtype=np.float64)
    else:
        flags = _flags(errors, states)
    use_chip = np.asarray(cols["use_chip"]).astype(str)
    return {
        "amount": to_cents(cols["amount"]) / 100.0,
        "hour": ((event_ms // HOUR_MS) % 24).astype(np.float64),
        "day_of_week": (((event_ms // DAY_MS) + 3) % 7).astype(np.float64),  # 1970-01-01 was a Thursday
        "is_online": (use_chip == ONLINE).astype(np.float64),
        "is_chip": (use_chip == CHIP).astype(np.float64),
        "mcc": np.asarray(cols["mcc"], dtype=np.float64),
        "is_foreign": flags[:, 3],
        "error_credentials": flags[:, 0],
        "error_balance": flags[:, 1],
        "error_other": flags[:, 2],
    }


def mean_dollars(count: np.ndarray, cents: np.ndarray) -> np.ndarray:
    """Mean amount in dollars from an integer count and cent sum; NaN where there is no history."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(cents, dtype=np.float64) / np.asarray(count, dtype=np.float64) / 100.0


def norm_stats(count: np.ndarray, cents: np.ndarray, cents_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation in dollars from integer sums; NaN where there is no history."""
    n = np.asarray(count, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = np.asarray(cents, dtype=np.float64) / n
        var_c = np.asarray(cents_sq, dtype=np.float64) / n - mean_c * mean_c
    return mean_c / 100.0, np.sqrt(np.maximum(var_c, 0.0)) / 100.0


# Where assemble finds each feature that is a raw aggregate as it stands (counts, flags) or a cent sum
# shown in dollars: index arrays, so one assignment fills a whole group (one numpy call, not one per
# column: the single-score path runs this per request).
_RAW_INDEX = {name: i for i, name in enumerate(RAW_AGGREGATES)}
_COLUMN = {name: j for j, name in enumerate(FEATURE_NAMES)}
_PRIORS = ("card_prior", "card_merchant_prior", "card_mcc_prior", "card_state_prior", "merchant_prior")


def _plan(pairs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """(feature columns, raw columns) of (feature, raw aggregate) pairs."""
    return (
        np.array([_COLUMN[f] for f, _ in pairs], dtype=np.intp),
        np.array([_RAW_INDEX[r] for _, r in pairs], dtype=np.intp),
    )


_AS_IS = _plan(
    [(f"{e}_count_{w}",) * 2 for e, ws in VELOCITY_WINDOWS.items() for w in ws]
    + [(f"{name}_txns", name) for name in _PRIORS]
    + [(name,) * 2 for name in ("user_state_jump", "merchant_known_frauds", "card_known_frauds")]
)
_IN_DOLLARS = _plan([(f"{e}_sum_{w}", f"{e}_cents_{w}") for e, ws in VELOCITY_WINDOWS.items() for w in ws])
_SINCE_LAST = _plan([(f"{e}_secs_since_last", f"{e}_last_ms") for e in ("card", "user")])
_DERIVED = (
    "user_mean_30d",
    "user_std_30d",
    "amount_over_user_mean",
    "amount_zscore_user",
    "user_mean_all",
    "merchant_fraud_rate",
)
TRANSACTION_FIELDS = tuple(f.name for f in FEATURES if f.group == "transaction")


def assembled_columns() -> list[int]:
    """Every column `assemble` writes, once per write (a test holds it to each column exactly once)."""
    plans = (_AS_IS, _IN_DOLLARS, _SINCE_LAST)
    named = (*TRANSACTION_FIELDS, *_DERIVED)
    return [_COLUMN[name] for name in named] + [int(j) for dst, _ in plans for j in dst]


def raw_matrix(raw: Mapping[str, np.ndarray]) -> np.ndarray:
    """Raw aggregates by name → the rows × RAW_AGGREGATES int64 matrix `assemble` reads."""
    return np.column_stack([np.asarray(raw[name], dtype=np.int64) for name in RAW_AGGREGATES])


def assemble(cols: Mapping[str, np.ndarray], raw: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Feature matrix (rows × FEATURE_NAMES, float64) from transaction columns and the raw aggregates
    (rows × RAW_AGGREGATES, integer)."""
    raw = np.asarray(raw, dtype=np.int64).reshape(-1, len(RAW_AGGREGATES))
    event_ms = np.asarray(cols["event_ms"], dtype=np.int64)
    x = np.empty((len(raw), len(FEATURE_NAMES)))
    for name, values in transaction_fields(cols).items():
        x[:, _COLUMN[name]] = values
    x[:, _AS_IS[0]] = raw[:, _AS_IS[1]]
    x[:, _IN_DOLLARS[0]] = raw[:, _IN_DOLLARS[1]] / 100.0
    last = raw[:, _SINCE_LAST[1]]
    x[:, _SINCE_LAST[0]] = np.where(last >= 0, (event_ms[:, None] - last) / 1000.0, np.nan)

    def aggregate(name: str) -> np.ndarray:
        return raw[:, _RAW_INDEX[name]]

    mean, std = norm_stats(
        aggregate("user_norm_count"), aggregate("user_norm_cents"), aggregate("user_norm_cents_sq")
    )
    amount = x[:, _COLUMN["amount"]]
    x[:, _COLUMN["user_mean_30d"]], x[:, _COLUMN["user_std_30d"]] = mean, std
    x[:, _COLUMN["amount_over_user_mean"]] = amount / np.maximum(np.abs(mean), 1.0)
    x[:, _COLUMN["amount_zscore_user"]] = (amount - mean) / np.maximum(std, 1.0)
    x[:, _COLUMN["user_mean_all"]] = mean_dollars(aggregate("user_all_count"), aggregate("user_all_cents"))
    known = aggregate("merchant_known_count").astype(np.float64)
    frauds = aggregate("merchant_known_frauds").astype(np.float64)
    x[:, _COLUMN["merchant_fraud_rate"]] = frauds / (known + config.risk_prior_txns)
    return x
