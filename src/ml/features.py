"""The one feature spec: names, meanings and the shared arithmetic of training and serving.

Two paths compute the same *raw aggregates* over a transaction's history: `batch_features`
(vectorized over a time-sorted frame, for training) and `online.OnlineFeatureState` (incremental,
for the API). Both turn them into feature values through the same formulas (`_formulas`): on numpy
columns (`assemble`, all rows at once) or on Python numbers (`assemble_one`, one row per request), so
the paths cannot drift apart in arithmetic. Money is summed in integer cents so that window sums are
exact in both paths.

History rule (the no-leakage contract): a transaction's features use only transactions that came
*before it* in time order (ties broken by arrival order) plus its own fields; fraud labels are used
only for transactions at least `label_delay_ms` older than it (labels arrive late: chargebacks).

This module imports numpy only: the API imports it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# 2: merchant nodes carry common-point-of-purchase features
# 3: graph nodes count activity over the last 30 days, not over all history
# 4: CPP from suspicions (no label delay) beside confirmed frauds; cards' CPP exposures as columns
# 5: the served model is the training gate's choice; `graph_columns` names its graph columns (none,
#    graph aggregates or GraphSAGE) and the node tables carry the aggregates
SPEC_VERSION = 5
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
    """Columns the graph model adds: each node's GraphSAGE risk score, the card's common-point-of-purchase
    exposures (`graph_data.EXPOSURES`), then each node's embedding."""
    risks = tuple(
        Feature(
            f"graph_{kind}_risk",
            f"graph risk of the {kind}: its links to cards and merchants with confirmed fraud (GraphSAGE)",
            "graph",
        )
        for kind in GRAPH_NODE_KINDS
    )
    exposures = (
        Feature(
            "graph_card_cpp_exposure",
            "a merchant this card visited in 30 days shares confirmed frauds on its customers' cards"
            " far above chance (common point of purchase)",
            "graph",
        ),
        Feature(
            "graph_card_suspect_exposure",
            "a merchant this card visited in 30 days shares suspicious transactions on its customers'"
            " cards far above chance (flagged by the tabular model, before any label)",
            "graph",
        ),
    )
    dims = tuple(
        Feature(f"graph_{kind}_{i}", f"graph embedding of the {kind} (component {i})", "graph")
        for kind in GRAPH_NODE_KINDS
        for i in range(dim)
    )
    return risks + exposures + dims


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
    """(foreign merchant, credential error, balance error, other error) of one pair of text fields."""
    cred = float(any(c in errors for c in CREDENTIAL_ERRORS))
    balance = float("Insufficient Balance" in errors)
    other = float(errors not in _EMPTY and not cred and not balance)
    foreign = float(len(merchant_state) > 2 and merchant_state not in _EMPTY)
    return foreign, cred, balance, other


_EMPTY = ("", "None", "nan")


def _column_flags(errors: Any, states: Any) -> tuple[np.ndarray, ...]:
    """The four `_text_flags` columns of arrays of text fields, evaluated once per distinct pair."""
    pairs = np.char.add(np.char.add(np.asarray(errors).astype(str), "\x1f"), np.asarray(states).astype(str))
    uniq, idx = np.unique(pairs, return_inverse=True)
    table = np.array([_text_flags(*u.split("\x1f", 1)) for u in uniq], dtype=np.float64).reshape(-1, 4)
    return tuple(table[idx.reshape(-1)].T)


@dataclass(frozen=True)
class _Ops:
    """What the feature formulas need beyond arithmetic operators and comparisons, for numpy columns
    (training: all rows at once) or for Python numbers (serving: one row, where numpy's fixed cost per
    call would be most of a request's work). Both are IEEE double arithmetic, correctly rounded, so the
    two give bit-identical features; tests hold them to it."""

    integer: Callable[[Any], Any]
    number: Callable[[Any], Any]  # integers and booleans as floats
    text: Callable[[Any], Any]
    rint: Callable[[Any], Any]  # round half to even
    sqrt: Callable[[Any], Any]
    maximum: Callable[[Any, float], Any]  # NaN stays NaN
    ratio: Callable[[Any, Any], Any]  # a / b, NaN for 0 / 0 (no history)
    known: Callable[[Any, Any], Any]  # (condition, value): the value where the condition holds, else NaN
    text_flags: Callable[[Any, Any], tuple[Any, ...]]  # (foreign, credentials, balance, other)


def _column_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(a / b)


def _scalar_ratio(a: float, b: float) -> float:
    if b:
        return a / b
    return math.nan if a == 0 or a != a else math.copysign(math.inf, a)


_COLUMNS = _Ops(
    integer=lambda v: np.asarray(v, dtype=np.int64),
    number=lambda v: np.asarray(v, dtype=np.float64),
    text=lambda v: np.asarray(v).astype(str),
    rint=np.rint,
    sqrt=np.sqrt,
    maximum=np.maximum,
    ratio=_column_ratio,
    known=lambda condition, value: np.where(condition, value, np.nan),
    text_flags=_column_flags,
)
_SCALARS = _Ops(
    integer=int,
    number=float,
    text=str,
    rint=lambda v: float(round(v)),  # Python's round(float) rounds half to even, like np.rint
    sqrt=math.sqrt,
    maximum=lambda a, b: a if a != a or a >= b else b,
    ratio=_scalar_ratio,
    known=lambda condition, value: value if condition else math.nan,
    text_flags=lambda errors, state: _text_flags(str(errors), str(state)),
)

# (feature, raw aggregate) pairs of the features that are an aggregate as it stands, a cent sum in
# dollars, or a time since the last transaction in seconds.
_PRIORS = ("card_prior", "card_merchant_prior", "card_mcc_prior", "card_state_prior", "merchant_prior")
_AS_IS = (
    [(f"{e}_count_{w}",) * 2 for e, ws in VELOCITY_WINDOWS.items() for w in ws]
    + [(f"{name}_txns", name) for name in _PRIORS]
    + [(name,) * 2 for name in ("user_state_jump", "merchant_known_frauds", "card_known_frauds")]
)
_IN_DOLLARS = [(f"{e}_sum_{w}", f"{e}_cents_{w}") for e, ws in VELOCITY_WINDOWS.items() for w in ws]
_SINCE_LAST = [(f"{e}_secs_since_last", f"{e}_last_ms") for e in ("card", "user")]


# The transaction fields the spec reads, by their names in the platform's record
# (`fraudlake.schemas.records.TRANSACTIONS`): its time (`EVENT_TS`, which the formulas take as epoch
# milliseconds, `EVENT_MS`), the entities whose history it joins, and its own fields the formulas read.
# Every reader of transactions for the model takes its columns from here: training data, the API's
# online state and its cold start, the demo's requests. A unit test holds them to the record and to
# the API's `TransactionIn`.
EVENT_TS, EVENT_MS = "event_ts", "event_ms"
ENTITY_FIELDS: tuple[str, ...] = ("user_id", "card_id", "merchant_id")
OWN_FIELDS: tuple[str, ...] = ("amount", "use_chip", "mcc", "merchant_state", "errors")
INPUT_FIELDS: tuple[str, ...] = (EVENT_TS, *ENTITY_FIELDS, *OWN_FIELDS)
# A transaction in the history also carries its id (it joins the history once) and, in labelled data,
# its label (counted only once `FeatureConfig.label_delay_ms` old).
TXN_ID, LABEL = "txn_id", "is_fraud"
HISTORY_FIELDS: tuple[str, ...] = (TXN_ID, *INPUT_FIELDS, LABEL)


def _formulas(
    ops: _Ops, txn: Mapping[str, Any], raw: Callable[[str], Any], config: FeatureConfig
) -> dict[str, Any]:
    """Every feature by name from the transaction's time (`EVENT_MS`) and `OWN_FIELDS` (`merchant_state`
    as a state code) and its raw aggregates (`raw(name)`): the one place the spec's
    arithmetic is written."""
    t = ops.integer(txn[EVENT_MS])
    amount = ops.rint(ops.number(txn["amount"]) * 100.0) / 100.0  # whole cents, as the sums count them
    chip = ops.text(txn["use_chip"])
    foreign, credentials, balance, other = ops.text_flags(txn["errors"], txn["merchant_state"])
    out = {
        "amount": amount,
        "hour": ops.number(t // HOUR_MS % 24),
        "day_of_week": ops.number((t // DAY_MS + 3) % 7),  # 1970-01-01 was a Thursday (Monday = 0)
        "is_online": ops.number(chip == ONLINE),
        "is_chip": ops.number(chip == CHIP),
        "mcc": ops.number(txn["mcc"]),
        "is_foreign": foreign,
        "error_credentials": credentials,
        "error_balance": balance,
        "error_other": other,
    }
    for feature, aggregate in _AS_IS:
        out[feature] = ops.number(raw(aggregate))
    for feature, aggregate in _IN_DOLLARS:
        out[feature] = ops.number(raw(aggregate)) / 100.0
    for feature, aggregate in _SINCE_LAST:
        last = raw(aggregate)
        out[feature] = ops.known(last >= 0, (t - last) / 1000.0)
    norm_count = ops.number(raw("user_norm_count"))
    mean_cents = ops.ratio(ops.number(raw("user_norm_cents")), norm_count)
    variance = ops.ratio(ops.number(raw("user_norm_cents_sq")), norm_count) - mean_cents * mean_cents
    mean, std = mean_cents / 100.0, ops.sqrt(ops.maximum(variance, 0.0)) / 100.0
    out["user_mean_30d"], out["user_std_30d"] = mean, std
    out["amount_over_user_mean"] = amount / ops.maximum(abs(mean), 1.0)
    out["amount_zscore_user"] = (amount - mean) / ops.maximum(std, 1.0)
    out["user_mean_all"] = (
        ops.ratio(ops.number(raw("user_all_cents")), ops.number(raw("user_all_count"))) / 100.0
    )
    known = ops.number(raw("merchant_known_count"))
    out["merchant_fraud_rate"] = ops.number(raw("merchant_known_frauds")) / (known + config.risk_prior_txns)
    return out


_RAW_INDEX = {name: i for i, name in enumerate(RAW_AGGREGATES)}


def raw_matrix(raw: Mapping[str, np.ndarray]) -> np.ndarray:
    """Raw aggregates by name → the rows × RAW_AGGREGATES int64 matrix `assemble` reads."""
    return np.column_stack([np.asarray(raw[name], dtype=np.int64) for name in RAW_AGGREGATES])


def assemble(cols: Mapping[str, np.ndarray], raw: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Feature matrix (rows × FEATURE_NAMES, float64) from columns of the transactions' fields and their
    raw aggregates (rows × RAW_AGGREGATES, integer). NaN where a feature needs history there is not."""
    raw = np.asarray(raw, dtype=np.int64).reshape(-1, len(RAW_AGGREGATES))
    values = _formulas(_COLUMNS, cols, lambda name: raw[:, _RAW_INDEX[name]], config)
    x = np.empty((len(raw), len(FEATURE_NAMES)))
    for j, name in enumerate(FEATURE_NAMES):
        x[:, j] = values[name]
    return x


def assemble_one(txn: Mapping[str, Any], raw: Mapping[str, int], config: FeatureConfig) -> np.ndarray:
    """One feature row (1 × FEATURE_NAMES) from one transaction's fields and its raw aggregates by name,
    computed on Python numbers: the same formulas as `assemble`, without numpy's cost per call."""
    values = _formulas(_SCALARS, txn, raw.__getitem__, config)
    return np.array([[values[name] for name in FEATURE_NAMES]])


def assemble_rows(
    fields: Sequence[Mapping[str, Any]], raws: Sequence[Mapping[str, int]], config: FeatureConfig
) -> np.ndarray:
    """Feature matrix (rows × FEATURE_NAMES) from transactions' fields and raw aggregates gathered one
    at a time (the online state's `inputs`), evaluated as columns: a batch's rows, bit-equal to
    `assemble_one` of each, at a fraction of its cost per row."""
    cols = {name: np.asarray([f[name] for f in fields]) for name in fields[0]}
    raw = np.asarray([[r[name] for name in RAW_AGGREGATES] for r in raws], dtype=np.int64)
    return assemble(cols, raw, config)


def formula_names() -> list[str]:
    """The features the formulas define, in definition order (a test holds them to FEATURE_NAMES)."""
    raw = dict.fromkeys(RAW_AGGREGATES, 0)
    txn = {EVENT_MS: 0, "amount": 0.0, "use_chip": CHIP, "mcc": 0, "merchant_state": "", "errors": ""}
    return list(_formulas(_SCALARS, txn, raw.__getitem__, FeatureConfig()))
