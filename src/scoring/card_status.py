"""Which cards the bank has stopped, as its database says (change data capture of its `cards` table).

A transaction on a card the bank has blocked, replaced by a reissue or removed is declined whatever its
score: the issuer would refuse it anyway, and an analyst must see why. The book follows the Debezium
change events of the bank's `cards` table (fraudlake.producer.bank_db, docs/cdc.md) as the API and the
stream scorer read them from the pipeline's compacted CDC topic.

Memory: only cards that have ever been stopped are kept (with the WAL position of their latest change),
not every card of the bank: an `active` image of a card the book does not hold changes nothing.

Order: a change delivered again after a Kafka Connect restart carries its original WAL position
(`source.lsn`), so a replayed "blocked" older than the "active" that followed it is ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fraudlake.scoring.models import RuleHit, ScoreResult

CARD_STATUS_RULE = "card_status"  # the RuleHit.rule of a decision the card's status forced
ACTIVE = "active"


@dataclass(frozen=True)
class StoppedCard:
    """The latest known change of a card that has been stopped at some point."""

    lsn: int
    message: str | None  # why transactions are declined; None: the card is active again


def stop_message(image: Mapping[str, Any] | None) -> str | None:
    """Why a card with this row image (None: deleted) takes no transactions; None when it is active."""
    if image is None:
        return "card closed: removed from the bank's records"
    if "status" not in image:  # renamed or dropped in the bank's database: keep what is known
        raise ValueError("a cards change without a status column: the card keeps its last known status")
    status = image["status"] or ACTIVE
    if status == ACTIVE:
        return None
    if status == "blocked":
        reason = image.get("blocked_reason")
        return f"card blocked ({reason})" if reason else "card blocked"
    if status == "replaced":
        return "card replaced by a reissued card"
    return f"card {status}"


class CardStatusBook:
    """The stopped cards, updated from one thread (the CDC reader) and read by the scoring threads."""

    def __init__(self) -> None:
        self._cards: dict[str, StoppedCard] = {}
        self._lock = threading.Lock()  # dict reads are atomic; the lock keeps check-then-set whole
        self.changes = 0  # change events applied (tombstones and stale replays not counted)

    def __len__(self) -> int:
        return len(self._cards)

    def apply(self, payload: Mapping[str, Any] | None) -> bool:
        """Apply one change event of the cards table (None: a tombstone, nothing to do); True if applied."""
        if payload is None:
            return False
        deleted = payload.get("op") == "d"
        image = payload.get("before") if deleted else payload.get("after")
        card_id = (image or {}).get("card_id")
        if not card_id:
            raise ValueError(f"cards change {payload.get('op')!r} has no card_id in its row image")
        lsn = int(payload["source"]["lsn"])
        message = stop_message(None if deleted else image)  # ValueError: nothing applied
        with self._lock:
            known = self._cards.get(card_id)
            if known is not None and lsn < known.lsn:
                return False  # an older change delivered again
            if known is None and message is None:
                return False  # an active card the book never held: nothing to keep
            self._cards[card_id] = StoppedCard(lsn, message)
            self.changes += 1
            return True

    def stopped_count(self) -> int:
        """How many cards are stopped now (the book also keeps cards that are active again)."""
        with self._lock:
            return sum(1 for card in self._cards.values() if card.message is not None)

    def stopped(self, card_id: str) -> str | None:
        """Why `card_id` takes no transactions, or None."""
        card = self._cards.get(card_id)
        return card.message if card is not None else None

    def enforce(self, card_id: str, result: ScoreResult) -> ScoreResult:
        """`result`, declined with the card's status as a fired rule when the card is stopped."""
        message = self.stopped(card_id)
        if message is None:
            return result
        hit = RuleHit(rule=CARD_STATUS_RULE, type="CardStatus", message=message)
        return result.model_copy(update={"decision": "decline", "rules_fired": [*result.rules_fired, hit]})
