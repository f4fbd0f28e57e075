"""POST /v1/score and /v1/score/batch.

The single score is `async def` and runs on the event loop: it is CPU-bound for well under a
millisecond, so a hop to the thread pool would cost more than it saves. The batch is `def` (thread
pool): a thousand transactions take long enough that the loop should keep serving meanwhile.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from fraudlake.api.deps import JsonBody, Scoring
from fraudlake.api.errors import ModelNotReadyError, PayloadTooLargeError, UnauthorizedError, error_responses
from fraudlake.api.logs import current_request_id
from fraudlake.api.models import MAX_BATCH, BatchRequest, BatchResponse, ScoreResponse
from fraudlake.scoring.core import score_transactions
from fraudlake.scoring.models import EXAMPLE_TRANSACTION, TransactionIn

router = APIRouter(prefix="/v1/score", tags=["score"])
_EXAMPLES = {
    "online": {"summary": "An online purchase", "value": EXAMPLE_TRANSACTION},
    "in_store": {
        "summary": "A chip purchase in a store",
        "value": EXAMPLE_TRANSACTION
        | {
            "txn_id": "0b7c4c3e8d2f41a6b5e9d8c7f6a5b4c3",
            "amount": 23.5,
            "use_chip": "Chip Transaction",
            "merchant_city": "La Verne",
            "merchant_state": "CA",
            "zip": "91750",
            "mcc": 5411,
        },
    },
}
# Both routes validate their bodies from the raw bytes (see JsonBody): the transaction contract is
# read as JSON the same way for one transaction and for a thousand, in one pass.
_TRANSACTION_BODY = JsonBody(TransactionIn, examples=_EXAMPLES)
_BATCH_BODY = JsonBody(BatchRequest)
_ERRORS = error_responses(UnauthorizedError, PayloadTooLargeError, 422, ModelNotReadyError)


@router.post(
    "",
    response_model=ScoreResponse,
    responses=_ERRORS,
    summary="Score one transaction: probability, decision, reasons, rules fired.",
)
async def score(ctx: Scoring, txn: Annotated[TransactionIn, Depends(_TRANSACTION_BODY)]) -> Response:
    settings = ctx.services.settings
    scored = score_transactions(
        ctx.model,
        ctx.state,
        [txn],
        "all",
        settings.reasons,
        settings.exact_reasons,
        ctx.services.card_status,
    )
    ctx.services.publish(scored, ctx.model.version)
    result = scored.results[0]
    # Built from a validated result and two strings: nothing left to validate.
    response = ScoreResponse.model_construct(
        request_id=current_request_id(), model_version=ctx.model.version, **dict(result)
    )
    return _json(response)


@router.post(
    "/batch",
    response_model=BatchResponse,
    responses=_ERRORS,
    summary=f"Score up to {MAX_BATCH} transactions in order.",
)
def score_batch(ctx: Scoring, batch: Annotated[BatchRequest, Depends(_BATCH_BODY)]) -> Response:
    settings = ctx.services.settings
    scored = score_transactions(
        ctx.model,
        ctx.state,
        batch.transactions,
        batch.reasons,
        settings.reasons,
        settings.exact_reasons,
        ctx.services.card_status,
    )
    ctx.services.publish(scored, ctx.model.version)
    body = BatchResponse(
        request_id=current_request_id(),
        model_version=ctx.model.version,
        decisions=scored.decision_counts(),
        results=scored.results,
    )
    return _json(body)


def _json(body: BaseModel) -> Response:
    """The response model serialized once by pydantic-core (the models were built, hence valid, here:
    FastAPI's validate-then-encode pass would only repeat that work)."""
    return Response(body.model_dump_json(), media_type="application/json")
