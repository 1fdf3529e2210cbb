"""The trail behind a transaction, an oracle request or a decision, read from the stores.

`trace(query, stores)` takes a transaction hash, an oracle request id or a decision id and
returns every record behind it as plain dicts: the agent or node, the model id and its
preimage (weights digest, engine and version, sampling), the prompt, the raw output, the
guard's verdict and flows (when the store has them), the transaction and receipt.
`replay(step_id, store, client)` asks a model the recorded request again and compares.

Stores are found by their tables: a SQLite file with `steps` is an agent state store, one with
`oracle_rounds` an oracle node store.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from concilium.agents.records import StateStore, StepRecord
from concilium.errors import ConciliumError
from concilium.llm.provenance import UNKNOWN, describe, family_of
from concilium.oracle.store import OracleStore, Round
from concilium.stack.bundled import REGISTRY

TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
DECISION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
REQUEST_ID = re.compile(r"^(0x[0-9a-fA-F]{1,64}|[0-9]{1,78})$")


class TraceError(ConciliumError):
    exit_code = 2


@dataclass
class Stores:
    agents: list[StateStore] = field(default_factory=list)
    oracles: list[OracleStore] = field(default_factory=list)

    @classmethod
    def discover(cls, dirs: list[Path], urls: list[str] = ()) -> "Stores":
        """Every SQLite store under `dirs` (three levels deep), plus agent stores at `urls`."""
        out = cls(agents=[StateStore(u) for u in urls])
        for d in dirs:
            files = [d] if d.is_file() else [f for pat in ("*.db", "*/*.db", "*/*/*.db") for f in sorted(d.glob(pat))]
            for f in files:
                tables = _tables(f)
                if "steps" in tables:
                    out.agents.append(StateStore.sqlite(f))
                if "oracle_rounds" in tables:
                    out.oracles.append(OracleStore.sqlite(f))
        return out

    async def close(self) -> None:
        for s in [*self.agents, *self.oracles]:
            await s.close()


def _tables(path: Path) -> set[str]:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as c:
            return {r[0] for r in c.execute("select name from sqlite_master where type='table'")}
    except sqlite3.Error:
        return set()


def kind_of(query: str) -> str:
    q = query.strip()
    if TX_HASH.match(q):
        return "tx"
    if DECISION_ID.match(q.lower()):
        return "decision"
    if REQUEST_ID.match(q):
        return "request"
    raise TraceError(f"{query!r} is not a transaction hash (0x + 64 hex), an oracle request id (a number) or a decision id (a UUID)")


async def trace(query: str, stores: Stores) -> list[dict[str, Any]]:
    kind, q = kind_of(query), query.strip()
    found: list[dict[str, Any]] = []
    if kind in ("tx", "decision"):
        col = "tx_hash" if kind == "tx" else "id"
        for st in stores.agents:
            for rec in await st.find(**{col: q.lower()}):  # both are stored in lower case
                found.append(await step_trail(st, rec))
    if kind in ("tx", "request"):
        for st in stores.oracles:
            rounds = await st.rounds(limit=10**9) if kind == "tx" else await st.by_request(int(q, 0))
            for rnd in rounds:
                if kind == "request" or q.lower() in ((rnd.submit_tx or "").lower(), (rnd.fulfil_tx or "").lower()):
                    found.append(await round_trail(st, rnd))
    return found


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def decode_raw_tx(raw: str | None) -> dict[str, Any] | None:
    """The signed transaction's fields (to, value, data, gas, fees, nonce), from its raw bytes."""
    if not raw:
        return None
    from eth_account import Account
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    b = HexBytes(raw)
    try:
        fields = TypedTransaction.from_bytes(b).as_dict() if b[0] < 0x7F else {}
        fields["from"] = Account.recover_transaction(b)
    except Exception as e:  # a stored raw tx we cannot decode is shown as such, not a crash
        return {"undecodable": f"{type(e).__name__}"}
    keep = ("chainId", "nonce", "to", "value", "data", "gas", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "from")
    return {k: (HexBytes(v).to_0x_hex() if isinstance(v, (bytes, bytearray)) else v) for k, v in fields.items() if k in keep}


async def step_trail(store: StateStore, rec: StepRecord) -> dict[str, Any]:
    d = rec.as_dict()
    req = await store.request(rec.id)
    pre = await store.model_preimage(rec.model_id)
    refused = rec.status == "refused"
    return {
        "what": "agent decision",
        "decision_id": rec.id,
        "agent": rec.agent,
        "status": rec.status,
        "created_at": rec.created_at,
        "store": store.url,
        "model": {"model_id": rec.model_id, "name": rec.model_name, **describe(pre), "preimage": pre},
        "inputs_hash": rec.inputs_hash,
        "observation": d.get("observation"),
        "prompt": rec.prompt,
        "messages": _json(req.messages) if req else None,
        "raw_output": rec.output,
        "decision": {"action": rec.action, "args": d.get("args"), "reason": rec.reason},
        "guard": {"verdict": "refused" if refused else ("allowed" if rec.action and rec.action != "noop" else None),
                  "rule": rec.rule, "reason": rec.verdict, "summary": rec.summary,
                  **{k: d[k] for k in ("flows", "ledger") if d.get(k) is not None}},
        "transaction": None if not rec.tx_hash else {
            "hash": rec.tx_hash, "nonce": rec.nonce, "sender": rec.sender, "signed": decode_raw_tx(rec.raw_tx)},
        "receipt": None if rec.block_number is None else {
            "status": rec.status, "block_number": rec.block_number, "gas_used": rec.gas_used},
        "error": rec.error,
    }


async def round_trail(store: OracleStore, rnd: Round) -> dict[str, Any]:
    from concilium.oracle.kinds import Kind, prompt_messages

    d = rnd.as_dict()
    pre = await store.model_preimage(rnd.model_id)
    try:
        kind = Kind(rnd.kind)
        messages = [{"role": "user" if r == "human" else r, "content": c} for r, c in prompt_messages(rnd.prompt, kind, bytes.fromhex(rnd.options[2:]))]
        kind_name = kind.name.lower()
    except ValueError:
        messages, kind_name = None, str(rnd.kind)
    return {
        "what": "oracle round",
        "request_id": rnd.request_id,
        "oracle": rnd.oracle,
        "node": rnd.node,
        "status": rnd.status,
        "store": store.url,
        "consumer": rnd.consumer,
        "kind": kind_name,
        "question": rnd.prompt,
        "messages": messages,
        "model": {"model_id": rnd.model_id, "pinned": rnd.pinned_model, **describe(pre), "preimage": pre},
        "raw_output": rnd.model_output,
        "answer": d.get("my_answer"),
        "peer_answers": d.get("peer_answers"),
        "answers_by_family": await _by_family(store, rnd.node, d.get("my_answer"), d.get("peer_answers")),
        "result": rnd.result,
        "transaction": {"submit_tx": rnd.submit_tx, "submit_nonce": rnd.submit_nonce, "fulfil_tx": rnd.fulfil_tx},
        "receipt": {"gas_used": rnd.gas_used, "outcome": _json(rnd.note)} if rnd.fulfil_tx else None,
        "note": rnd.note if not rnd.fulfil_tx else None,
    }


async def _by_family(store: OracleStore, node: str, mine: dict | None, peers: dict | None) -> list[dict[str, Any]]:
    """Every answer this node held, grouped by the model family its model id names (the id's first
    4 bytes), then by model id, each model described if its preimage is known here."""
    known = tuple(e.family for e in REGISTRY.values())
    groups: dict[str, dict[str, Any]] = {}
    for signer, a in ([(node, mine)] if mine else []) + list((peers or {}).items()):
        mid = a.get("model_id") or UNKNOWN
        g = groups.setdefault(family_of(mid, known) if mid != UNKNOWN else UNKNOWN, {"answers": {}, "models": {}})
        g["answers"][signer] = a.get("readable") or ("sealed, not revealed" if a.get("sealed_only") else a.get("value"))
        g["models"].setdefault(mid, []).append(signer)
    out = []
    for family, g in groups.items():
        models = []
        for mid, signers in g["models"].items():
            pre = await store.model_preimage(mid) if mid != UNKNOWN else None
            models.append({"model_id": mid, "nodes": signers,
                           "model": describe(pre) if pre else {"note": "preimage held by that node's operator, not this store"}})
        out.append({"family": family, "answers": g["answers"], "models": models})
    return sorted(out, key=lambda g: -len(g["answers"]))


async def attach_chain(entries: list[dict[str, Any]], rpc: str) -> None:
    """Add the transaction and receipt as the chain has them now (eth_getTransactionByHash/Receipt)."""
    import httpx

    async with httpx.AsyncClient(timeout=10) as c:
        async def call(method: str, h: str) -> Any:
            try:
                r = await c.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": [h]})
                return r.json().get("result")
            except (httpx.HTTPError, ValueError) as e:
                raise TraceError(f"RPC {rpc} did not answer {method}: {type(e).__name__}") from None

        for e in entries:
            tx = e.get("transaction") or {}
            for h in {tx.get("hash"), tx.get("fulfil_tx"), tx.get("submit_tx")} - {None}:
                e.setdefault("chain", {})[h] = {"transaction": await call("eth_getTransactionByHash", h),
                                                "receipt": await call("eth_getTransactionReceipt", h)}


async def replay(store: StateStore, step_id: str, client) -> dict[str, Any]:
    """Ask `client` (a ModelClient with the recorded sampling) the recorded request again."""
    from concilium.llm.replay import compare, from_dicts

    rec = await store.get(step_id)
    if rec is None:
        raise TraceError(f"no decision {step_id} in {store.url}")
    req = await store.request(step_id)
    if req is None or rec.output is None:
        raise TraceError(f"decision {step_id} has no recorded model request (a proposed decision, tool mode, or recorded before requests were kept)")
    live_id = await client.model_id()
    out = await client.decide(from_dicts(json.loads(req.messages)), json.loads(req.schema), req.schema_name)
    recorded_pre = await store.model_preimage(rec.model_id)
    return {
        "decision_id": step_id,
        "agent": rec.agent,
        "same_model": live_id == rec.model_id,
        "recorded_model": {"model_id": rec.model_id, **describe(recorded_pre)},
        "replayed_model": {"model_id": live_id, **describe(out.preimage)},
        **compare(rec.output, out.text).as_dict(),
    }


async def replay_decision(store_url: str, step_id: str, model_url: str, model_name: str | None = None) -> dict[str, Any]:
    """`replay` against the server at `model_url`, with the sampling (and family label) the decision was made with."""
    import dataclasses

    from concilium.llm.client import ModelClient, Sampling

    store = StateStore(store_url)
    try:
        rec = await store.get(step_id)
        if rec is None:
            raise TraceError(f"no decision {step_id} in {store_url}")
        recorded = json.loads(rec.sampling or "{}")
        sampling = Sampling(**{f.name: recorded[f.name] for f in dataclasses.fields(Sampling) if f.name in recorded})
        family = (await store.model_preimage(rec.model_id) or {}).get("family")  # a label; the weights digest is checked
        client = ModelClient(model_url, model_name or rec.model_name or "", sampling, family=family)
        return await replay(store, step_id, client)
    finally:
        await store.close()
