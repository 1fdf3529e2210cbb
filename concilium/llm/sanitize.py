"""Chat-template control text in untrusted data, made inert.

A vLLM server renders messages with the model's chat template and tokenizes the result with
special tokens enabled, so data that contains `<|im_end|><|im_start|>system` would close the
user's message and open a real system message. Every message goes through `neutralise_messages`
on its way to the model (llm/client.py): each control string of the served model's tokenizer
(`control_tokens(model_dir)`), of the common families (ChatML, Llama 3, Gemma, Mistral), and any
`<|...|>` marker gets a WORD JOINER (U+2060) after its first character. The text still reads the
same to a person and to the model, but no longer matches a special token.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

JOINER = "\u2060"
KNOWN = frozenset({
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
    "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>", "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>",
    "<s>", "</s>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[TOOL_CALLS]", "<tool_call>", "</tool_call>",
    "<tools>", "</tools>", "<tool_response>", "</tool_response>", "<think>", "</think>",
})
_MARKER = re.compile(r"<\|[^<>|\s]{1,64}\|>")


@lru_cache(maxsize=16)
def control_tokens(model_dir: str | Path | None) -> frozenset[str]:
    """The special tokens a local model's tokenizer defines (tokenizer.json and
    tokenizer_config.json), with the common ones; just the common ones without a local dir."""
    found = set(KNOWN)
    d = Path(model_dir) if model_dir else None
    if d is not None and d.is_dir():
        for name in ("tokenizer.json", "tokenizer_config.json"):
            try:
                data = json.loads((d / name).read_text())
            except (OSError, ValueError):
                continue
            added = data.get("added_tokens") or list((data.get("added_tokens_decoder") or {}).values())
            found |= {t["content"] for t in added if isinstance(t, dict) and t.get("special") and t.get("content")}
            for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
                tok = data.get(key)
                tok = tok.get("content") if isinstance(tok, dict) else tok
                if isinstance(tok, str) and tok:
                    found.add(tok)
    return frozenset(t for t in found if len(t) >= 2)


def neutralise(text: str, tokens: frozenset[str] = KNOWN) -> str:
    text = _MARKER.sub(lambda m: m.group(0)[0] + JOINER + m.group(0)[1:], text)
    for t in sorted(tokens, key=len, reverse=True):
        if t in text:
            text = text.replace(t, t[0] + JOINER + t[1:])
    return text


def neutralise_messages(messages: list[Any], tokens: frozenset[str] = KNOWN) -> list[Any]:
    """Copies of LangChain messages (or `(role, text)` pairs, which LangChain also takes) whose text
    content is neutralised."""
    out = []
    for m in messages:
        if isinstance(m, tuple):
            role, text = m
            out.append((role, neutralise(text, tokens) if isinstance(text, str) else text))
            continue
        content = m.content
        if isinstance(content, str):
            content = neutralise(content, tokens)
        elif isinstance(content, list):
            content = [{**p, "text": neutralise(p["text"], tokens)} if isinstance(p, dict) and isinstance(p.get("text"), str)
                       else neutralise(p, tokens) if isinstance(p, str) else p for p in content]
        out.append(m.model_copy(update={"content": content}))
    return out
