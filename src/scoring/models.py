"""The scoring contract: a transaction to score, its result and the served model's description.

Shared by every way a transaction gets decided (the API's `/v1/score`, the stream scorer) and by
every reader of their answers (the UI parses API responses with these models). The API's OpenAPI
document is their JSON Schema.

`TransactionIn` is the platform's transaction record (`fraudlake.schemas.records.TRANSACTIONS`):
same field names, meanings and nullability. The fields the model reads are required; the other
columns of the record are accepted (so a client can post a record straight from the topic) and
ignored. A unit test keeps this model and the record definition in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from annotated_types import Interval
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from fraudlake.schemas.records import TRANSACTIONS

Decision = Literal["approve", "review", "decline"]
UseChip = Literal["Swipe Transaction", "Chip Transaction", "Online Transaction"]
EntityId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]


def _json_integer(value: Any) -> Any:
    """JSON Schema's integer: 7 and 7.0 are integers; "7", true and 7.5 are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    return value


# JSON integers in [ge, le]. The bounds sit in the type so optional fields' schemas show them; each is
# spelled out (not built by a function) so that type checkers read it as a type.
_JSON_INTEGER = BeforeValidator(_json_integer)
MccCode = Annotated[int, Interval(ge=0, le=9999), _JSON_INTEGER]
NonNegativeInt32 = Annotated[int, Interval(ge=0, le=2**31 - 1), _JSON_INTEGER]
Int64 = Annotated[int, Interval(ge=-(2**63), le=2**63 - 1), _JSON_INTEGER]
CalendarYear = Annotated[int, Interval(ge=1900, le=2100), _JSON_INTEGER]
CalendarMonth = Annotated[int, Interval(ge=1, le=12), _JSON_INTEGER]
CalendarDay = Annotated[int, Interval(ge=1, le=31), _JSON_INTEGER]


YEARS = range(1990, 2100)  # as written (local to the given offset), like the schema's pattern


def _doc(name: str, extra: str = "") -> str:
    return (TRANSACTIONS.field(name).doc + (" " + extra if extra else "")).strip()


EXAMPLE_TRANSACTION: dict[str, Any] = {
    "txn_id": "9f1c2a7b3d4e5f60718293a4b5c6d7e8",
    "event_ts": "2019-03-14T18:52:00Z",
    "user_id": "1321",
    "card_id": "1321-2",
    "merchant_id": "4722913068560264812",
    "amount": 812.4,
    "use_chip": "Online Transaction",
    "merchant_city": "ONLINE",
    "merchant_state": None,
    "zip": None,
    "mcc": 5311,
    "errors": None,
}


class TransactionIn(BaseModel):
    """One transaction to score, in the platform's schema. Types are JSON's, not coerced: "12.5" is
    not an amount, 1 is not a boolean, 7.0 is an integer."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_TRANSACTION]})

    txn_id: EntityId | None = Field(None, description=_doc("txn_id", "Assigned by the API when missing."))
    event_ts: datetime = Field(
        description=_doc("event_ts", "ISO-8601, years 1990-2099; without a zone it is read as UTC."),
        # The range guards the online state's clock; the pattern states it in the schema for clients.
        json_schema_extra={"pattern": r"^(199\d|20\d\d)-"},
    )
    user_id: EntityId = Field(description=_doc("user_id"))
    card_id: EntityId = Field(description=_doc("card_id"))
    merchant_id: EntityId = Field(description=_doc("merchant_id"))
    # ±$100,000 (the real data's largest is about $12,400) keeps the state's integer cent sums exact.
    amount: float = Field(strict=True, ge=-1e5, le=1e5, allow_inf_nan=False, description=_doc("amount"))
    use_chip: UseChip = Field(description=_doc("use_chip"))
    mcc: MccCode = Field(description=_doc("mcc"))
    merchant_state: str | None = Field(None, max_length=64, description=_doc("merchant_state"))
    errors: str | None = Field(None, max_length=256, description=_doc("errors"))
    # The rest of the record: accepted, not used by the model.
    card_token: str | None = Field(None, pattern=r"^tok_[0-9a-f]{32}$", description=_doc("card_token"))
    user: NonNegativeInt32 | None = Field(None, description=_doc("user"))
    card: NonNegativeInt32 | None = Field(None, description=_doc("card"))
    year: CalendarYear | None = Field(None, description=_doc("year"))
    month: CalendarMonth | None = Field(None, description=_doc("month"))
    day: CalendarDay | None = Field(None, description=_doc("day"))
    time: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description=_doc("time"))
    merchant_name: Int64 | None = Field(None, description=_doc("merchant_name"))
    merchant_city: str | None = Field(None, max_length=64, description=_doc("merchant_city"))
    zip: str | None = Field(None, pattern=r"^\d{5}$", description=_doc("zip"))
    is_fraud: bool | None = Field(
        None,
        strict=True,
        description=_doc("is_fraud", "Ignored: the service never learns labels from scoring requests."),
    )

    @field_validator("event_ts", mode="before")
    @classmethod
    def _text_not_number(cls, value: Any) -> Any:
        # Pydantic would read a number as Unix time; the contract (and the JSON Schema) is ISO-8601 text.
        if not isinstance(value, str | datetime):
            raise ValueError("must be an ISO-8601 date-time string")
        return value

    @field_validator("event_ts")
    @classmethod
    def _in_range_as_utc(cls, value: datetime) -> datetime:
        if value.year not in YEARS:
            raise ValueError(f"the year must be within {YEARS.start}-{YEARS.stop - 1}")
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class Reason(BaseModel):
    """One input that moved the score, in words (XGBoost per-feature contribution, log-odds)."""

    feature: str = Field(description="Feature name in the model's feature spec.")
    description: str = Field(description="What the feature means.")
    value: float | None = Field(description="The feature's value for this transaction (null: no history).")
    contribution: float = Field(description="Contribution to the fraud log-odds: > 0 raises the score.")


class RuleHit(BaseModel):
    """A window rule of the pipeline that fired on this transaction, or the card's status in the bank's
    database (type CardStatus, rule `card_status`: a blocked, replaced or closed card is declined)."""

    rule: str = Field(description="Rule name, as in the FraudPipeline's spec.rules, or card_status.")
    type: Literal["SpendBurst", "Velocity", "CardStatus"]
    message: str = Field(description="What happened in the window.")


class ScoreResult(BaseModel):
    """The score of one transaction."""

    txn_id: str
    score: float = Field(ge=0, le=1, description="Calibrated fraud probability.")
    decision: Decision = Field(description="By the model's thresholds: approve < review ≤ score < decline.")
    reasons: list[Reason] = Field(description="Top contributions, largest magnitude first.")
    rules_fired: list[RuleHit]


class Threshold(BaseModel):
    review: float | None = Field(description="Scores ≥ this are reviewed (null: the band is off).")
    decline: float | None = Field(description="Scores ≥ this are declined (null: the band is off).")
    review_basis: Literal["precision", "capacity"] | None = Field(
        None,
        description="How review was set on validation: a target precision, or (when no threshold reached"
        " it) a capacity queue of the top `review_capacity` share of scores.",
    )
    review_capacity: float | None = Field(
        None, description="Share of transactions the capacity queue holds (basis 'capacity' only)."
    )


class ModelInfo(BaseModel):
    """The model being served."""

    version: str
    loaded_at: datetime
    source: str = Field(description="Where the version was loaded from.")
    thresholds: Threshold
    trained_on: dict[str, Any] = Field(
        description="Data window of the training run: start, end, rows, frauds."
    )
    periods: dict[str, Any] = Field(description="Time periods of the training run (gnn/fit/valid/test).")
    metrics: dict[str, Any] = Field(description="Test metrics of the served model and its baselines.")
    served_model: str | None = Field(
        None, description="The training gate's choice: b_xgb_tabular, b_plus_xgb_aggregates or c_xgb_graph."
    )
    gate_reason: str | None = Field(None, description="Why the training gate served this model.")
    features: int = Field(description="Number of model inputs.")
