"""The API's own request and response shapes around the scoring contract (`fraudlake.scoring.models`).

Their JSON Schema is the OpenAPI document.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fraudlake.scoring.models import ScoreResult, TransactionIn

MAX_BATCH = 1000  # transactions per POST /v1/score/batch


class ScoreResponse(ScoreResult):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "txn_id": "9f1c2a7b3d4e5f60718293a4b5c6d7e8", "score": 0.87, "decision": "decline",
        "reasons": [
            {"feature": "card_count_1h", "description": "transactions on this card in the previous 1h",
             "value": 7.0, "contribution": 1.92},
            {"feature": "graph_merchant_risk", "description": "graph risk of the merchant: its links to "
             "cards and merchants with confirmed fraud (GraphSAGE)", "value": 2.4, "contribution": 1.1},
        ],
        "rules_fired": [{"rule": "velocity_5m", "type": "Velocity",
                         "message": "12 transactions on this card within 5 minutes (rule: at least 11)"}],
        "request_id": "4b1d9c0e7a2f4e6b8c3d5a1f0e9b7c6d", "model_version": "20190228T235900Z-1a2b3c4d",
    }]})  # fmt: skip

    request_id: str
    model_version: str


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[TransactionIn] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"Up to {MAX_BATCH} transactions, scored and added to the history in this order.",
    )
    reasons: Literal["flagged", "all", "none"] = Field(
        "flagged", description="Which results carry reasons: flagged (review/decline), all or none."
    )


class BatchResponse(BaseModel):
    request_id: str
    model_version: str
    decisions: dict[str, int] = Field(description="How many transactions got each decision.")
    results: list[ScoreResult] = Field(description="In the order of the request.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    model_version: str | None = None
    detail: str = ""


class FieldError(BaseModel):
    field: str = Field(description="The offending field, e.g. transactions[3].amount.")
    message: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx body."""

    error: str = Field(description="Stable machine-readable code, e.g. validation_error, unauthorized.")
    message: str
    request_id: str
    fields: list[FieldError] | None = None
