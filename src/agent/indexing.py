"""Keep a pipeline's Chroma collection equal to the documents built from its ClickHouse database.

:func:`sync_documents` is idempotent: documents are upserted by their stable ids, a document whose
content hash is unchanged is not embedded again, and ids no longer produced (a deleted alert, a
card without fraud any more, a case that aged out of the window) are deleted. Running it twice with
the same data changes nothing.

The collection records the embedding model that made its vectors (``embedding_model`` metadata);
opening it with another model raises instead of silently mixing vector spaces.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fraudlake.agent.document_queries import build_documents
from fraudlake.agent.documents import IndexDocument, Window
from fraudlake.agent.embeddings import Embedder

log = logging.getLogger(__name__)

EMBED_BATCH = 64
_READ_PAGE = 1000


class EmbeddingModelMismatchError(RuntimeError):
    """The collection's vectors come from another embedding model than the one configured."""


@dataclass(frozen=True)
class SyncReport:
    """What one sync did; small enough for an XCom."""

    collection: str
    documents: int
    embedded: int
    unchanged: int
    deleted: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def chroma_client(url: str) -> Any:
    """An HTTP client of the ChromaDB server at `url` (telemetry off)."""
    import chromadb
    from chromadb.config import Settings

    parts = urlsplit(url)
    return chromadb.HttpClient(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if parts.scheme == "https" else 8000),
        ssl=parts.scheme == "https",
        settings=Settings(anonymized_telemetry=False),
    )


def open_collection(client: Any, name: str, embedder: Embedder, create: bool = True) -> Any:
    """The collection `name`, created for `embedder` if missing; raises on a model mismatch."""
    if create:
        collection = client.get_or_create_collection(
            name, embedding_function=None, metadata={"embedding_model": embedder.model_name}
        )
    else:
        collection = client.get_collection(name, embedding_function=None)
    recorded = (collection.metadata or {}).get("embedding_model")
    if recorded != embedder.model_name:
        raise EmbeddingModelMismatchError(
            f"collection {name!r} holds {recorded!r} vectors but the agent is configured for "
            f"{embedder.model_name!r}; re-index into a fresh collection or configure the same model"
        )
    return collection


def sync_documents(collection: Any, documents: Sequence[IndexDocument], embedder: Embedder) -> SyncReport:
    """Make `collection` hold exactly `documents` (see the module docstring); returns the counts."""
    wanted = {doc.id: doc for doc in documents}
    if len(wanted) != len(documents):
        raise ValueError("document ids must be unique")
    present = stored_hashes(collection)
    changed = [doc for doc in documents if present.get(doc.id) != doc.content_hash]
    for batch in _batches(changed, EMBED_BATCH):
        collection.upsert(
            ids=[doc.id for doc in batch],
            embeddings=embedder.embed([doc.text for doc in batch]),
            documents=[doc.text for doc in batch],
            metadatas=[doc.chroma_metadata() for doc in batch],
        )
    stale = sorted(set(present) - set(wanted))
    for batch in _batches(stale, _READ_PAGE):
        collection.delete(ids=list(batch))
    report = SyncReport(
        collection.name, len(documents), len(changed), len(documents) - len(changed), len(stale)
    )
    log.info("chroma sync %s", report)
    return report


def stored_hashes(collection: Any) -> dict[str, str]:
    """id → content hash of everything in `collection`, read page by page."""
    hashes: dict[str, str] = {}
    offset = 0
    while True:
        page = collection.get(include=["metadatas"], limit=_READ_PAGE, offset=offset)
        for doc_id, metadata in zip(page["ids"], page["metadatas"] or [], strict=False):
            hashes[doc_id] = str((metadata or {}).get("content_hash", ""))
        if len(page["ids"]) < _READ_PAGE:
            return hashes
        offset += _READ_PAGE


def index_pipeline(
    clickhouse_dsn: str,
    database: str,
    chroma_url: str,
    collection_name: str,
    embedder: Embedder,
    window_end: datetime,
    days: int,
) -> SyncReport:
    """Build the documents of `database` for the `days` up to `window_end` and sync them into Chroma."""
    from fraudlake.clickhouse.client import connect

    window = Window.ending(window_end, days)
    documents = build_documents(connect(clickhouse_dsn), database, window)
    collection = open_collection(chroma_client(chroma_url), collection_name, embedder)
    return sync_documents(collection, documents, embedder)


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
