"""Agent memory on a real chroma server (`chroma run`): the same recall as the embedded client,
and a service whose YAML names `memory_server:` remembers and recalls through it."""

import pytest

from concilium.agents.memory import AgentMemory, chroma_client
from concilium.service.service import AgentService
from concilium.stack.chroma import ChromaServer
from tests.conftest import deploy_token
from tests.test_service import agent, service_yaml


@pytest.fixture(scope="module")
async def chroma(tmp_path_factory):
    server = await ChromaServer(tmp_path_factory.mktemp("chroma") / "data").start(progress=print)
    yield server
    server.stop()


STEPS = [f"decided send_native {{'amount': {a / 100}}} to hot_wallet at block {b}; outcome: {o}"
         for a in range(1, 11) for b in (100, 200, 300) for o in ("confirmed", "refused by rule recipient", "noop")]
QUERIES = ["send 0.05 ETH to the hot wallet", "refused by the recipient rule", "nothing to do at block 300", "amount 0.1 confirmed"]


async def test_server_recall_matches_the_embedded_client(chroma, tmp_path):
    embedded = AgentMemory(chroma_client(tmp_path), "same")
    served = AgentMemory(chroma_client(tmp_path, chroma.url), "same")
    for i, text in enumerate(STEPS):
        for m in (embedded, served):
            await m.remember(f"s{i}", text, {"status": "x"})
    assert served.collection.count() == embedded.collection.count() == len(STEPS)
    for q in QUERIES:
        assert await served.recall(q, 5) == await embedded.recall(q, 5), q


async def test_service_with_memory_server_recalls_through_it(stack, vllm, chain, tmp_path, chroma):
    f = tmp_path / "agents.yaml"
    text = service_yaml(await deploy_token(chain), agent("rememberer", "{every: 1h}", memory=3))
    f.write_text(text.replace("version: 1", f"version: 1\nmemory_server: {chroma.url}"))
    async with AgentService.open(f, stack=stack, state_dir=tmp_path, api=False) as svc:
        first = await svc.run_step("rememberer")
        second = await svc.run_step("rememberer")
        assert "Relevant past steps" not in first.prompt and "Relevant past steps" in second.prompt
    assert not (tmp_path / "memory").exists()  # nothing embedded: it all went to the server
    served = AgentMemory(chroma_client(tmp_path, chroma.url), "rememberer")
    assert served.collection.count() == 2
