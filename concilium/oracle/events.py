"""The typed messages the watcher hands to the node, decoded one log at a time from the
oracle's raw logs. Chain data is untrusted: a log that does not decode, or lies beyond the
contract's own bounds (a prompt or options over the size caps, a deadline beyond the longest
timeout, an unknown kind), raises `Unprocessable` with the reason, and the watcher records it as
skipped instead of stopping. Text is decoded here, not by the ABI decoder: a prompt that is not
UTF-8 is still a request, which nodes settle with a signed `PromptRejected` verdict."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from concilium.oracle.kinds import Kind
from concilium.oracle.signing import RequestTerms

EVENTS = ("Requested", "Fulfilled", "Unanswered", "Cancelled")
OUTCOME = {"Fulfilled": "fulfilled", "Unanswered": "unanswerable", "Cancelled": "cancelled"}


@dataclass(frozen=True)
class Limits:
    """What a node accepts from a `Requested` event: the contract's own bounds (`params()`), so
    an event beyond them cannot be a request this contract stored."""

    max_prompt_bytes: int = 32_768
    max_options_bytes: int = 4_096
    max_timeout: int = 86_400


class Unprocessable(Exception):
    """This log cannot be processed, and never will be: skip it, with this reason."""


@dataclass(frozen=True)
class EventRef:
    name: str
    block: int
    log_index: int
    tx: str

    @property
    def key(self) -> str:
        return f"{self.block}:{self.log_index}"


@dataclass(frozen=True)
class RequestSeen:
    ref: EventRef
    request_id: int
    consumer: str
    prompt: str  # U+FFFD for bytes that are not UTF-8 (then prompt_readable is False)
    prompt_bytes: bytes
    prompt_readable: bool
    kind: Kind
    options: bytes
    model_id: bytes
    deadline: int
    fee: int
    callback_gas_limit: int
    epoch: int
    quorum: int
    max_gas_price: int = 0  # the transmitter's reimbursement bound (wei)
    f: int = 0  # faults the request's epoch tolerates: numeric answers are paid within [x_f, x_(r-1-f)]
    min_families: int = 0  # model families the agreeing nodes must span (0 or 1: any)

    def terms(self) -> RequestTerms:
        """What the node signs over: recomputed from the content it evaluates, never taken on trust."""
        return RequestTerms.of(self.request_id, self.consumer, self.prompt_bytes, int(self.kind), self.options, self.model_id,
                               self.deadline, self.fee, self.callback_gas_limit, self.epoch)


@dataclass(frozen=True)
class RequestClosed:
    ref: EventRef
    request_id: int
    outcome: str  # fulfilled | unanswerable | cancelled
    result: bytes | None = None
    signers: tuple[str, ...] = ()
    callback_ok: bool | None = None


Message = RequestSeen | RequestClosed


def ref_of(raw: dict, name: str = "?") -> EventRef:
    return EventRef(name, int(raw["blockNumber"]), int(raw["logIndex"]), HexBytes(raw["transactionHash"]).to_0x_hex())


def _type(p: dict[str, Any]) -> str:
    if p["type"].startswith("tuple"):
        return "(" + ",".join(_type(c) for c in p["components"]) + ")" + p["type"][5:]
    return "bytes" if p["type"] == "string" else p["type"]  # text checked below, field by field


@lru_cache(maxsize=None)
def _layouts(abi_json: str) -> dict[bytes, tuple[str, list[dict[str, Any]]]]:
    """topic0 -> (event name, inputs), for the events a node follows."""
    out = {}
    for item in json.loads(abi_json):
        if item.get("type") == "event" and item["name"] in EVENTS:
            sig = f"{item['name']}({','.join(_signature_type(i) for i in item['inputs'])})"
            out[keccak(text=sig)] = (item["name"], item["inputs"])
    return out


def _signature_type(p: dict[str, Any]) -> str:
    if p["type"].startswith("tuple"):
        return "(" + ",".join(_signature_type(c) for c in p["components"]) + ")" + p["type"][5:]
    return p["type"]


def _decode(abi_json: str, raw: dict) -> tuple[str, dict[str, Any]]:
    topics = [bytes(HexBytes(t)) for t in raw.get("topics") or []]
    layout = _layouts(abi_json).get(topics[0] if topics else b"")
    if layout is None:
        raise Unprocessable("not an oracle event this node follows")
    name, inputs = layout
    indexed = [i for i in inputs if i.get("indexed")]
    plain = [i for i in inputs if not i.get("indexed")]
    if len(topics) != 1 + len(indexed):
        raise Unprocessable(f"{name}: {len(topics) - 1} indexed topics, expected {len(indexed)}")
    try:
        args = {i["name"]: decode([_type(i)], t)[0] for i, t in zip(indexed, topics[1:])}
        values = decode([_type(i) for i in plain], bytes(HexBytes(raw["data"])))
    except Exception as e:  # noqa: BLE001 - any decoding failure of untrusted data
        raise Unprocessable(f"{name}: does not decode ({type(e).__name__}: {str(e)[:120]})") from None
    for i, v in zip(plain, values):
        args[i["name"]] = dict(zip((c["name"] for c in i["components"]), v)) if i["type"] == "tuple" else v
    return name, args


def decode_log(contract, raw: dict, limits: Limits, now: float | None = None) -> Message:
    """One raw log of the oracle -> a typed message, or Unprocessable(reason)."""
    name, args = _decode(json.dumps(contract.abi, sort_keys=True), raw)
    ref = ref_of(raw, name)
    rid = int(args["requestId"])
    if name == "Requested":
        return _requested(ref, rid, args, limits, time.time() if now is None else now)
    if name == "Fulfilled":
        return RequestClosed(ref, rid, "fulfilled", bytes(args["result"]), tuple(to_checksum_address(a) for a in args["signers"]),
                             bool(args["callbackOk"]))
    if name == "Unanswered":
        return RequestClosed(ref, rid, "unanswerable", None, tuple(to_checksum_address(a) for a in args["signers"]), bool(args["callbackOk"]))
    return RequestClosed(ref, rid, OUTCOME[name])


def _requested(ref: EventRef, rid: int, args, limits: Limits, now: float) -> RequestSeen:
    r, prompt, options = args["request"], bytes(args["prompt"]), bytes(args["options"])
    if len(prompt) > limits.max_prompt_bytes:
        raise Unprocessable(f"prompt of {len(prompt)} bytes is over the oracle's cap of {limits.max_prompt_bytes}")
    if len(options) > limits.max_options_bytes:
        raise Unprocessable(f"options of {len(options)} bytes are over the oracle's cap of {limits.max_options_bytes}")
    deadline = int(r["deadline"])
    if deadline > now + limits.max_timeout + 600:
        raise Unprocessable(f"deadline {deadline} is more than the oracle's maximum timeout ({limits.max_timeout} s) away")
    try:
        kind = Kind(int(r["kind"]))
    except ValueError:
        raise Unprocessable(f"unknown answer kind {int(r['kind'])}") from None
    try:
        text, readable = prompt.decode("utf-8"), True
    except UnicodeDecodeError:
        text, readable = prompt.decode("utf-8", "replace"), False  # answered with a signed PromptRejected verdict
    return RequestSeen(ref, rid, to_checksum_address(args["consumer"]), text, prompt, readable, kind, options, bytes(r["modelId"]),
                       deadline, int(r["fee"]), int(r["callbackGasLimit"]), int(r["epoch"]), int(r["quorum"]),
                       int(r["maxGasPrice"]), int(r["f"]), int(r["minFamilies"]))
