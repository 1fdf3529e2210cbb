"""GGUF -> Hugging Face safetensors directory, the conversions bundled models use.

`via_transformers`: transformers builds the model from the GGUF config, `load_gguf_checkpoint`
dequantises the tensors and we load them into it, checking that every parameter is filled
(SmolLM2; without that check the random init was saved once and served for days). `gemma3`: every tensor read and dequantised with `gguf`
ourselves and mapped by name, because transformers' loader leaves Gemma 3's q_norm/k_norm at
their zero init; llama.cpp stores Gemma's RMSNorm weights as (1 + w), so 1 is taken off again.
Each conversion checks that every tensor of the GGUF lands in exactly one model parameter of the
same shape and that no parameter is left unfilled, and raises StackError otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from concilium.errors import StackError

Progress = Callable[[str], None]


def _config_and_tokenizer(gguf: Path):
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return config, tokenizer


def via_transformers(gguf: Path, out: Path, progress: Progress) -> None:
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    progress("reading the GGUF config and tokenizer")
    config, tokenizer = _config_and_tokenizer(gguf)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    progress("dequantising the weights")
    # load_gguf_checkpoint only returns the tensors (transformers 5): load them, all of them
    tensors = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model)["tensors"]
    missing, unexpected = model.load_state_dict({k: torch.as_tensor(v) for k, v in tensors.items()}, strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:  # lm_head is tied to the embeddings
        raise StackError(f"the GGUF {gguf.name} does not fit the model: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    progress("writing safetensors")
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


_GEMMA3_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
}
_GEMMA3_LAYER = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def gemma3_name(gguf_name: str) -> str | None:
    if gguf_name in _GEMMA3_NAMES:
        return _GEMMA3_NAMES[gguf_name]
    m = re.fullmatch(r"blk\.(\d+)\.(\w+)\.weight", gguf_name)
    if m and m.group(2) in _GEMMA3_LAYER:
        return f"model.layers.{m.group(1)}.{_GEMMA3_LAYER[m.group(2)]}.weight"
    return None


def gemma3_tensors(gguf: Path) -> dict:
    """HF name -> float32 torch tensor, every GGUF tensor dequantised and mapped exactly once."""
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize

    tensors: dict = {}
    for t in GGUFReader(str(gguf)).tensors:
        name = gemma3_name(t.name)
        if name is None:
            raise StackError(f"GGUF tensor {t.name} has no place in a Gemma 3 model: refusing a partial conversion")
        if name in tensors:
            raise StackError(f"two GGUF tensors map to {name}")
        w = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        w = w.reshape(tuple(int(d) for d in reversed(t.shape)))
        if name.endswith("norm.weight"):
            w = w - 1.0  # llama.cpp stores Gemma's RMSNorm weight as (1 + w)
        tensors[name] = torch.from_numpy(w.copy())
    return tensors


def gemma3(gguf: Path, out: Path, progress: Progress) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    progress("reading the GGUF config and tokenizer")
    config, tokenizer = _config_and_tokenizer(gguf)
    tokenizer.add_bos_token = True  # the GGUF says add_bos_token; Gemma is lost without <bos>
    config.architectures = ["Gemma3ForCausalLM"]
    progress("dequantising the weights")
    tensors = gemma3_tensors(gguf)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    params = dict(model.named_parameters())
    tied = "lm_head.weight" if config.tie_word_embeddings else None
    missing = sorted(set(params) - set(tensors) - {tied})
    extra = sorted(set(tensors) - set(params))
    if missing or extra:
        raise StackError(f"Gemma 3 conversion incomplete: parameters not in the GGUF {missing[:5]}, GGUF tensors without a parameter {extra[:5]}")
    for name, w in tensors.items():
        if tuple(params[name].shape) != tuple(w.shape):
            raise StackError(f"{name}: GGUF shape {tuple(w.shape)} != model shape {tuple(params[name].shape)}")
    model.load_state_dict(tensors, strict=False)
    model.tie_weights()
    for name, w in tensors.items():  # what the model now holds is what the GGUF says
        if not torch.equal(params[name].detach(), w):
            raise StackError(f"{name} did not load from the GGUF")
    progress("writing safetensors")
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


CONVERSIONS: dict[str, Callable[[Path, Path, Progress], None]] = {
    "transformers": via_transformers,
    "gemma3": gemma3,
}
