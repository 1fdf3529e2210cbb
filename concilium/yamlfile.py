"""YAML files to pydantic models, with errors a person can act on: every problem listed with its
YAML path and line (`agents[0].policy.max_value_per_tx (line 14): expected an amount like "0.5
ether"`), and `${VAR}` / `${VAR:-default}` in any string read from the environment, so secrets
and deploy-time addresses stay out of the file. Used for agents YAML and oracle node YAML alike.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from concilium.errors import SpecError

M = TypeVar("M", bound=BaseModel)


MAX_BYTES = 1 << 20  # a YAML file larger than this is refused before parsing
MAX_NODES = 100_000  # nodes after alias expansion: a "billion laughs" document is refused
MAX_DEPTH = 64  # nesting levels


def load_yaml(path: str | Path, model: type[M]) -> M:
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise SpecError([f"cannot read {p}: {e.strerror}; check the path"], source=str(p)) from None
    return parse_yaml(decode_utf8(raw, str(p)), model, source=str(p), base_dir=p.resolve().parent)


def top_level_keys(path: str | Path) -> set[str]:
    """The keys of a YAML file's top mapping, read under the same bounds as `load_yaml` (size,
    UTF-8, depth; aliases are not expanded); empty for anything `load_yaml` would refuse, so the
    caller then gets that refusal's clear message from `load_yaml` itself."""
    try:
        with Path(path).open("rb") as f:
            text = decode_utf8(f.read(MAX_BYTES + 1), str(path))
        _check_depth(text, str(path))
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, SpecError, yaml.YAMLError):
        return set()
    if not isinstance(root, yaml.MappingNode):
        return set()
    return {k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode)}


def decode_utf8(raw: bytes, source: str = "spec") -> str:
    """Bytes -> text, refusing oversized files and naming the offset of the first non-UTF-8 byte."""
    if len(raw) > MAX_BYTES:
        raise SpecError([f"(file): larger than {MAX_BYTES // 1024} KiB; a spec this big is refused"], source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise SpecError([f"(line {line}): byte offset {e.start} (0x{raw[e.start]:02x}) is not UTF-8; save the file as UTF-8"], source) from None


def parse_yaml(text: str, model: type[M], source: str = "spec", base_dir: Path | None = None) -> M:
    """YAML text -> `model`, with ${ENV} interpolation and errors that name path and line.
    A model may define `cross_references()` returning (location, message) pairs."""
    if len(text) > MAX_BYTES:
        raise SpecError([f"(file): larger than {MAX_BYTES // 1024} KiB; a spec this big is refused"], source)
    try:
        _check_depth(text, source)
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            _check_expansion(node, source)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "unknown line"
        raise SpecError([f"({where}): not valid YAML: {getattr(e, 'problem', e)}"], source) from None
    if not isinstance(data, dict):
        raise SpecError(["(line 1): expected a mapping with `version: 1` at the top"], source)
    lines = _line_index(node)
    problems: list[str] = []
    data = _interpolate(data, (), problems, lines)
    unset = set(problems)
    if base_dir is not None and "base_dir" in model.model_fields:
        data["base_dir"] = base_dir
    result: M | None = None
    try:
        result = model.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            text = _format(err["loc"], _message(err), lines, data)
            if not any(text.split(":")[0] == u.split(":")[0] for u in unset):  # already reported as unset
                problems.append(text)
    if result is not None and hasattr(result, "cross_references"):
        problems += [_format(loc, msg, lines) for loc, msg in result.cross_references()]
    if problems:
        raise SpecError(problems, source)
    return result  # type: ignore[return-value]


_QUOTED_OR_COMMENT = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|(?:^|\s)#[^\n]*', re.M)


def _check_depth(text: str, source: str) -> None:
    """Refuse deep nesting before PyYAML's scanner (quadratic in the nesting of flow
    collections) or its recursive composer meet it: a fast count of brackets outside quotes
    and comments first, then the exact depth from the event stream."""
    depth = 0
    for ch in re.findall(r"[\[\]{}]", _QUOTED_OR_COMMENT.sub("", text)):
        depth = depth + 1 if ch in "[{" else max(depth - 1, 0)
        if depth > MAX_DEPTH:
            raise SpecError([f"(file): brackets nested more than {MAX_DEPTH} levels deep; refused"], source)
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError([f"(line {event.start_mark.line + 1}): nested more than {MAX_DEPTH} levels deep; refused"], source)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_expansion(root: yaml.Node | None, source: str) -> None:
    """Refuse alias bombs and recursive aliases before anything walks the expanded document.
    Sizes are memoised per node, so this costs one pass over the document as written."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise SpecError([f"(line {node.start_mark.line + 1}): an alias refers to itself; recursive YAML is refused"], source)
        active.add(key)
        n = 1
        if isinstance(node, yaml.MappingNode):
            n += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            n += sum(size(v) for v in node.value)
        active.discard(key)
        if n > MAX_NODES:
            raise SpecError([f"(line {node.start_mark.line + 1}): aliases expand to more than {MAX_NODES} nodes; "
                             "a document this large (an alias bomb?) is refused"], source)
        sizes[key] = n
        return n

    if root is not None:
        size(root)


def _message(err: dict[str, Any]) -> str:
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if err["type"] == "extra_forbidden":
        msg = "unknown key; check its spelling against the docs"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif err["type"] == "literal_error" and err["loc"] and err["loc"][0] == "version":
        msg = "expected `version: 1`"
    return msg


def _data_path(loc: tuple, data: Any) -> tuple:
    """Keep the parts of a pydantic error location that index the YAML data; pydantic also
    puts union-member tags (like 'WalletRef') in there, which mean nothing to the user."""
    path: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, (dict, list)) or node is data:
            node = None  # a missing key: still part of the path
        else:
            continue
        path.append(part)
    return tuple(path)


def _format(loc: tuple, msg: str, lines: dict[tuple, int], data: Any = None) -> str:
    path = _data_path(loc, data)
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    line = None
    probe = path
    while probe and line is None:
        line = lines.get(probe)
        probe = probe[:-1]
    where = f" (line {line})" if line else ""
    return f"{text or '<top>'}{where}: {msg}"


def _line_index(node: yaml.Node | None, path: tuple = ()) -> dict[tuple, int]:
    """Map each YAML path (as a tuple of keys and indexes) to its 1-based line."""
    out: dict[tuple, int] = {}
    if node is None:
        return out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out[path + (key,)] = k.start_mark.line + 1
            sub = _line_index(v, path + (key,))
            sub[path + (key,)] = k.start_mark.line + 1
            out.update(sub)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.update(_line_index(v, path + (i,)))
    return out


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: Any, path: tuple, problems: list[str], lines: dict[tuple, int]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, path + (k,), problems, lines) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path + (i,), problems, lines) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def sub(m: re.Match) -> str:
            var, default = m.group(1), m.group(2)
            if var in os.environ:
                return os.environ[var]
            if default is not None:
                return default
            problems.append(_format(path, f"environment variable {var} is not set; export it or write ${{{var}:-default}}", lines))
            return m.group(0)

        return _ENV.sub(sub, value)
    return value
