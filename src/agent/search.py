"""Semantic search over a pipeline's case collection, with exact matching of the ids a question names.

Embeddings alone are weak at opaque identifiers ("card 1006-1", "merchant 4702677039320152802"), and
analysts ask about exactly those. So :meth:`CaseSearch.search` first pulls the documents whose text
contains an id named in the query, ranks them by how many of those ids they carry and then by
semantic distance, and fills the rest of the result with plain nearest neighbours.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fraudlake.agent.embeddings import Embedder

# Card ids are "<user>-<card>" (but not pieces of dates like 2019-03-17); merchant ids are signed
# 64-bit numbers in decimal; alert and transaction ids are word-ish tokens with long hex tails.
CARD_ID = re.compile(r"(?<![\w-])\d{1,6}-\d{1,2}(?![\w-])")
MERCHANT_ID = re.compile(r"(?<![\w-])-?\d{7,20}(?![\w-])")
# (a bare hex id needs a letter a-f, so that all-digit merchant ids are not mistaken for one)
HEX_ID = re.compile(r"\b(?:[a-z]{1,8}_[0-9a-f]{8,32}|(?=[0-9]*[a-f])[0-9a-f]{16,32})\b")


def entity_ids(text: str) -> list[str]:
    """Card, merchant, alert and transaction ids mentioned in `text`, in order, without repeats."""
    found: list[str] = []
    for pattern in (CARD_ID, MERCHANT_ID, HEX_ID):
        for match in pattern.finditer(text):
            if match.group(0) not in found:
                found.append(match.group(0))
    return found


@dataclass(frozen=True)
class Hit:
    """One retrieved document: its id is the citation."""

    id: str
    kind: str
    text: str
    distance: float
    metadata: dict[str, Any] = field(default_factory=dict)
    matched_ids: tuple[str, ...] = ()


class CaseSearch:
    """Queries one Chroma collection with the embedder that built it.

    `collection` is a zero-argument callable so the API can open (and re-open) the collection
    lazily on the first chat request.
    """

    def __init__(self, collection: Callable[[], Any], embedder: Embedder) -> None:
        self._collection = collection
        self.embedder = embedder

    def search(self, query: str, k: int = 5, kinds: Sequence[str] | None = None) -> list[Hit]:
        """Up to `k` documents for `query`, optionally only of some kinds (alert, merchant, card, table)."""
        collection = self._collection()
        vector = self.embedder.embed([query])[0]
        where = {"kind": {"$in": list(kinds)}} if kinds else None
        ids = entity_ids(query)
        hits: list[Hit] = []
        if ids:
            hits = _rank_by_ids(
                self._query(collection, vector, max(4 * k, 20), where, _contains_any(ids)), ids
            )
        seen = {hit.id for hit in hits}
        for hit in self._query(collection, vector, k, where, None):
            if len(hits) >= k:
                break
            if hit.id not in seen:
                hits.append(hit)
        return hits[:k]

    def get(self, doc_ids: Sequence[str]) -> list[Hit]:
        """The documents with these ids that exist, in the order asked."""
        if not doc_ids:
            return []
        page = self._collection().get(ids=list(doc_ids), include=["documents", "metadatas"])
        by_id = {
            doc_id: Hit(doc_id, (meta or {}).get("kind", ""), text or "", 0.0, dict(meta or {}))
            for doc_id, text, meta in zip(
                page["ids"], page["documents"] or [], page["metadatas"] or [], strict=False
            )
        }
        return [by_id[doc_id] for doc_id in doc_ids if doc_id in by_id]

    @staticmethod
    def _query(
        collection: Any, vector: list[float], n: int, where: dict[str, Any] | None, where_document: Any
    ) -> list[Hit]:
        result = collection.query(
            query_embeddings=[vector],
            n_results=n,
            where=where,
            where_document=where_document,
            include=["documents", "metadatas", "distances"],
        )
        rows = zip(
            result["ids"][0],
            result["documents"][0],
            result["metadatas"][0],
            result["distances"][0],
            strict=True,
        )
        return [
            Hit(i, (m or {}).get("kind", ""), d or "", float(dist), dict(m or {})) for i, d, m, dist in rows
        ]


def _mentions(text: str, value: str) -> bool:
    """`value` appears in `text` as a whole id (card 54-2 is not a mention of 154-2 or 54-21)."""
    return re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", text) is not None


def _contains_any(ids: Sequence[str]) -> dict[str, Any]:
    clauses = [{"$contains": value} for value in ids]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _rank_by_ids(hits: list[Hit], ids: Sequence[str]) -> list[Hit]:
    """Documents naming more of the asked ids first (ids in the metadata count double), then nearest."""

    def matched(hit: Hit) -> tuple[str, ...]:
        return tuple(value for value in ids if _mentions(hit.text, value))

    def weight(hit: Hit) -> int:
        meta_values = {str(v) for v in hit.metadata.values()}
        return sum(2 if value in meta_values else 1 for value in matched(hit))

    ranked = sorted((hit for hit in hits if matched(hit)), key=lambda hit: (-weight(hit), hit.distance))
    return [Hit(hit.id, hit.kind, hit.text, hit.distance, hit.metadata, matched(hit)) for hit in ranked]
