"""What a model id is made of, and the table that keeps it beside the id.

A model id is 32 bytes: the first 4 name the model's family (sha256 of the family's name, e.g.
"smollm2", "gemma3"; "unknown" when no one said), the other 28 are sha256 over the preimage: the
family, the weights digest (sha256 of the safetensors; or, when it cannot be known,
`served:<name>`, shown as "unknown"), the engine and its version, and the sampling parameters.
The oracle contract reads the family from those 4 bytes (a request can require agreement across
families, `minFamilies`). Stores that record model ids (agent steps, oracle rounds) also keep each
preimage once in `model_ids`, so a reader can see what an id stands for.

For a server we did not start, the digest is derived when the server allows it: a vLLM server
on this machine (loopback URL) whose /v1/models names a local model directory is hashed from
that directory; anything else is "unknown".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import Float, String, Text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from concilium.db import Base

UNKNOWN = "unknown"
PREPARED_MARKER = "concilium-prepared.json"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def preimage(weights_digest: str | None, served_name: str, engine: str, sampling: dict[str, Any],
             family: str | None = None) -> dict[str, Any]:
    return {"family": family or UNKNOWN, "weights": weights_digest or f"served:{served_name}", "engine": engine, "sampling": sampling}


def family_tag(family: str) -> str:
    """The 4 bytes (hex, no 0x) that open the model id of every model of `family`."""
    return hashlib.sha256(family.strip().lower().encode()).hexdigest()[:8]


def model_id_of(pre: dict[str, Any]) -> str:
    body = hashlib.sha256(json.dumps(pre, sort_keys=True).encode()).hexdigest()
    return "0x" + family_tag(str(pre.get("family", UNKNOWN))) + body[8:]


def family_of(model_id: str, known: tuple[str, ...] = ()) -> str:
    """The family a model id names: one of `known` (plus "unknown") whose tag it carries, else
    "family 0x<tag>"."""
    tag = model_id.removeprefix("0x")[:8].lower()
    for name in (*known, UNKNOWN):
        if family_tag(name) == tag:
            return name
    return f"family 0x{tag}"


def describe(pre: dict[str, Any] | None) -> dict[str, Any]:
    """The preimage as a person reads it: family, weights digest or "unknown", engine, sampling."""
    if not pre:
        return {"family": UNKNOWN, "weights_digest": UNKNOWN, "engine": UNKNOWN, "sampling": UNKNOWN, "note": "preimage not recorded"}
    w = str(pre.get("weights", ""))
    out = {"family": pre.get("family", UNKNOWN), "weights_digest": UNKNOWN if w.startswith("served:") else w,
           "engine": pre.get("engine"), "sampling": pre.get("sampling")}
    if w.startswith("served:"):
        out["served_name"] = w.removeprefix("served:")
    return out


def weights_digest(model_dir: Path) -> str:
    """sha256 over the safetensors files, read from the marker when the dir was prepared by us."""
    marker = model_dir / PREPARED_MARKER
    if marker.exists():
        return json.loads(marker.read_text())["weights_sha256"]
    h = hashlib.sha256()
    for f in sorted(model_dir.glob("*.safetensors")):
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


async def derive_weights_digest(url: str, served_name: str) -> str | None:
    """The weights digest of a server we did not start, where it can be known (see module doc)."""
    if urlparse(url).hostname not in _LOOPBACK:
        return None
    try:
        async with httpx.AsyncClient(timeout=5) as c:
            r = await c.get(url.rstrip("/") + "/models")
            entries = r.json().get("data", []) if r.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    root = next((e.get("root") for e in entries if isinstance(e, dict) and e.get("id") == served_name), None)
    if not isinstance(root, str) or not Path(root).is_dir() or not any(Path(root).glob("*.safetensors")):
        return None
    return await asyncio.to_thread(weights_digest, Path(root))


class ModelIdRecord(Base):
    """One row per model id ever recorded in this store: its preimage as JSON."""

    __tablename__ = "model_ids"

    model_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    preimage: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[float] = mapped_column(Float)


class ModelIdLedger:
    """Mixin for a `Database` whose `models` include ModelIdRecord."""

    async def note_model(self, model_id: str, pre: dict[str, Any]) -> None:
        if model_id_of(pre) != model_id:
            raise ValueError("model id does not hash from its preimage")
        await self.init()  # type: ignore[attr-defined]
        try:
            async with self.sessions() as s, s.begin():  # type: ignore[attr-defined]
                if await s.get(ModelIdRecord, model_id) is None:
                    s.add(ModelIdRecord(model_id=model_id, preimage=json.dumps(pre, sort_keys=True), first_seen=time.time()))
        except IntegrityError:
            pass  # a concurrent step recorded the same id first: same preimage, same hash

    async def model_preimage(self, model_id: str | None) -> dict[str, Any] | None:
        if not model_id:
            return None
        await self.init()  # type: ignore[attr-defined]
        async with self.sessions() as s:  # type: ignore[attr-defined]
            row = await s.get(ModelIdRecord, model_id)
            return json.loads(row.preimage) if row else None
