"""The stack's ChromaDB server: one store reached over HTTP, always with explicit embeddings."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings

from fraudlake.local.stack.service import ServiceRecord

pytestmark = pytest.mark.integration


def http_client(chroma: ServiceRecord) -> chromadb.ClientAPI:
    url = urlsplit(chroma.endpoints["url"])
    return chromadb.HttpClient(
        host=url.hostname or "127.0.0.1", port=url.port or 8000, settings=Settings(anonymized_telemetry=False)
    )


def vectors(*rows: list[float]) -> np.ndarray:
    """Explicit embeddings, float32 as Chroma stores them."""
    return np.array(rows, dtype=np.float32)


@pytest.fixture
def client(chroma: ServiceRecord) -> chromadb.ClientAPI:
    return http_client(chroma)


def test_add_and_query_with_explicit_embeddings(client: chromadb.ClientAPI) -> None:
    # No embedding function: the default one would download a model, which fails offline.
    cases = client.create_collection(f"cases-{uuid.uuid4().hex[:8]}", embedding_function=None)
    cases.add(
        ids=["case-1", "case-2", "case-3"],
        embeddings=vectors([1, 0, 0], [0, 1, 0], [0, 0, 1]),
        documents=["card testing burst", "account takeover", "compromised merchant"],
        metadatas=[{"label": "fraud"}, {"label": "fraud"}, {"label": "legit"}],
    )
    hits = cases.query(query_embeddings=vectors([0.1, 0.9, 0]), n_results=2)
    assert hits["ids"][0] == ["case-2", "case-1"]
    assert hits["documents"] is not None
    assert hits["documents"][0][0] == "account takeover"

    only_legit = cases.query(query_embeddings=vectors([0.1, 0.9, 0]), n_results=1, where={"label": "legit"})
    assert only_legit["ids"][0] == ["case-3"]


def test_upsert_by_stable_id_is_idempotent(client: chromadb.ClientAPI) -> None:
    docs = client.create_collection(f"docs-{uuid.uuid4().hex[:8]}", embedding_function=None)
    for _ in range(2):
        docs.upsert(ids=["doc-1"], embeddings=vectors([0.5, 0.5]), documents=["velocity rule"])
    assert docs.count() == 1


def test_collections_are_shared_between_clients(chroma: ServiceRecord, client: chromadb.ClientAPI) -> None:
    name = f"shared-{uuid.uuid4().hex[:8]}"
    client.create_collection(name, embedding_function=None).add(ids=["x"], embeddings=vectors([1.0]))
    url = urlsplit(chroma.endpoints["url"])
    other = chromadb.HttpClient(
        host=url.hostname, port=url.port, settings=Settings(anonymized_telemetry=False)
    )
    assert other.get_collection(name, embedding_function=None).count() == 1
