"""What the stream scorer reads and writes: transaction messages in, decision and dead-letter records out.

Pure functions (no Kafka): the engine calls them and the tests hold them to the contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from fraudlake.ml.features import EVENT_MS
from fraudlake.scoring.models import ScoreResult, TransactionIn


class BadInputError(ValueError):
    """A message that is not a transaction the scorer can score; `kind` names why, for the dead letter."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


def decode_transaction(value: bytes | None) -> TransactionIn:
    """A transactions-topic message (Connect JSON envelope or bare payload) as a validated transaction.

    The topic carries `event_ts` as epoch milliseconds (the producer's JSON); ISO text is accepted too.
    Raises BadInputError with kind `empty`, `malformed_json`, `not_an_object` or `invalid_fields`.
    """
    if not value:
        raise BadInputError("empty", "the message has no value")
    try:
        doc = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInputError("malformed_json", str(exc)) from None
    payload = doc.get("payload", doc) if isinstance(doc, dict) and "schema" in doc else doc
    if not isinstance(payload, dict):
        raise BadInputError("not_an_object", f"expected a JSON object, got {type(payload).__name__}")
    event_ts = payload.get("event_ts")
    if isinstance(event_ts, int) and not isinstance(event_ts, bool):
        payload = payload | {"event_ts": datetime.fromtimestamp(event_ts / 1000, tz=UTC)}
    try:
        return TransactionIn.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())
        raise BadInputError("invalid_fields", problems) from None


@dataclass(frozen=True)
class Shadow:
    """What the challenger scored in shadow would have decided for one transaction."""

    model_version: str
    score: float
    decision: str


def decision_record(
    result: ScoreResult,
    record: dict[str, Any],
    model_version: str,
    produced_ms: int | None,
    shadow: Shadow | None = None,
) -> dict[str, Any]:
    """The decisions-topic record of one scored transaction (the `decisions` table's columns).

    `produced_ms` is the input message's Kafka timestamp: decided_ms minus it is the end-to-end latency.
    `decision` is always the champion's; a challenger's shadow verdict rides along in `shadow_*`.
    """
    body = {
        "txn_id": result.txn_id,
        "card_id": record["card_id"],
        "user_id": record["user_id"],
        "merchant_id": record["merchant_id"],
        "event_ts": record[EVENT_MS],
        "amount": record["amount"],
        "model_version": model_version,
        "score": result.score,
        "decision": result.decision,
        "reasons": [r.model_dump() for r in result.reasons],
        "rules_fired": [hit.model_dump() for hit in result.rules_fired],
        "produced_ms": produced_ms,
        "decided_ms": round(datetime.now(UTC).timestamp() * 1000),
    }
    if shadow is not None:
        body |= {
            "shadow_model_version": shadow.model_version,
            "shadow_score": shadow.score,
            "shadow_decision": shadow.decision,
        }
    return body


def dead_letter_record(
    error: BadInputError, value: bytes | None, partition: int, offset: int
) -> dict[str, Any]:
    """The dead-letter record of a message the scorer could not read: why, where, and the raw value."""
    return {
        "kind": error.kind,
        "reason": error.detail,
        "partition": partition,
        "offset": offset,
        "value": None if value is None else value.decode("utf-8", errors="replace"),
    }
