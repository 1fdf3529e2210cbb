"""Different models on different nodes, on the real stack: `concilium oracle up --models
smollm2,gemma3` (the real command, in its own process) runs nodes alternating between SmolLM2 and
Gemma 3 270M, each family on its own vLLM server; the network answers every kind, each answer
records the model id it was signed under, and the trail shows the answers family by family.

Three nodes (quorum 2), not four: these two small models rarely agree on a yes/no or a word
(SmolLM2 says false and Gemma's base model true to most questions), so two of each family split
2-2 and no quorum forms; `benchmarks/oracle_agreement.py` reports that rate as it is. Both model servers are the session's (tests/conftest.py)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from concilium.chain.client import ChainClient
from concilium.chain.wallets import dev_wallet
from concilium.oracle.client import OracleClient
from concilium.oracle.store import OracleStore
from concilium.stack.bundled import REGISTRY
from concilium.stack.model import BUNDLED_NAME
from concilium.trail import round_trail

FEE = 3 * 10**15
GEMMA = REGISTRY["gemma3-270m"]
ROOT = Path(__file__).resolve().parents[1]

# questions both families answer alike (benchmarks/oracle_agreement.py), one per kind
ASKED = [("bool", "Is Paris the capital of France?", None), ("choice", "What colour is a clear daytime sky?", ["blue", "green", "red"]),
         ("uint", "How many legs does a spider have?", None), ("text", "What is the capital of France?", None)]


@pytest.fixture(scope="module")
async def mixed_up(vllm, gemma, tmp_path_factory):
    """`concilium oracle up --models smollm2,gemma3` attached to the two running model servers."""
    state = tmp_path_factory.mktemp("mixed")
    proc = subprocess.Popen([sys.executable, "-m", "concilium.cli", "oracle", "up", "-n", "3", "--state-dir", str(state),
                             "--models", "smollm2,gemma3", "--model-url", f"{vllm.url},{gemma.url}",
                             "--model-name", f"{BUNDLED_NAME},{GEMMA.served_name}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        for _ in range(600):
            if (state / "network.json").exists() or proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert (state / "network.json").exists(), proc.stdout.read() if proc.poll() is not None else "no network.json in 60 s"
        yield state, json.loads((state / "network.json").read_text())
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def test_oracle_up_runs_nodes_on_two_model_families_and_the_mixed_network_answers_every_kind(mixed_up):
    state, info = mixed_up
    assert [n["model"] for n in info["nodes"]] == [BUNDLED_NAME, GEMMA.served_name, BUNDLED_NAME]  # node i on family i mod 2
    chain = ChainClient([info["rpc"]])
    stores = [OracleStore.sqlite(state / f"node{i}.db") for i in range(3)]
    try:
        client = OracleClient(chain, info["oracle"], dev_wallet(6))
        answered: set[str] = set()
        for kind, prompt, labels in ASKED:
            started = time.monotonic()
            req = await client.request(prompt, kind, labels=labels, fee=FEE)
            result = await req.result(timeout=60)
            assert len(result.signers) >= info["quorum"], (kind, result)
            await asyncio.sleep(0.5)  # the nodes record the settlement they watched
            rounds = [await s.get(f"{info['oracle']}:{req.request_id}:{n['address']}") for s, n in zip(stores, info["nodes"])]
            by_family = {r.model_id for r in rounds if r is not None and r.my_answer}
            # one model id per family, recorded with each answer; a slower node that saw the
            # settlement first did not answer this one, so both families are required over the run
            assert by_family, (kind, by_family)
            answered |= by_family
            # each node's trail groups the answers it saw by family, then model; a node that settled
            # before the slower family revealed saw one group, so the families show across the trails
            seen, families = set(), set()
            for store, rnd in zip(stores, rounds):
                groups = (await round_trail(store, rnd))["answers_by_family"] if rnd is not None else []
                assert all(g["answers"] for g in groups), groups
                assert {g["family"] for g in groups} <= {"smollm2", "gemma3"}, groups
                seen |= {m["model_id"] for g in groups for m in g["models"]}
                families |= {g["family"] for g in groups}
            assert seen == by_family and len(families) == len(by_family), (kind, seen, by_family, families)
            print(f"{kind}: {result.value!r} in {time.monotonic() - started:.1f} s, paid {len(result.signers)}")
        assert len(answered) == 2, answered  # both families answered, under two different model ids
    finally:
        await chain.close()
        for s in stores:
            await s.close()


async def test_a_request_that_requires_two_families_is_settled_by_both(mixed_up):
    """`minFamilies = 2`: the two SmolLM2 nodes (a quorum on their own) cannot settle it alone;
    it settles once Gemma's observation is in, and the paid nodes span both families, as the
    trail and the CLI name them. A numeric kind: with f = 0 every observation is in the band."""
    from concilium.llm.provenance import family_of

    state, info = mixed_up
    chain = ChainClient([info["rpc"]])
    try:
        client = OracleClient(chain, info["oracle"], dev_wallet(6))
        req = await client.request("How many legs does a spider have?", "uint", fee=FEE, min_families=2)
        result = await req.result(timeout=90)
        families = {family_of(m, ("smollm2", "gemma3")) for m in result.model_ids}
        assert families == {"smollm2", "gemma3"}, (result.model_ids, families)
        assert len(result.signers) >= 2
    finally:
        await chain.close()
