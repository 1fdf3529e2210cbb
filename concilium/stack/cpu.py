"""How vLLM should run on this machine, chosen from what the CPU offers.

In: the CPU's feature flags (/proc/cpuinfo) and whether a CUDA GPU serves instead. Out:
`ServingSettings` (dtype, eager or compiled, libraries to preload) that `VLLMServer` turns into
arguments and environment. Measured on 2-core machines (see benchmarks/serving.py, DESIGN.md):

- bf16 runs on oneDNN only with native bf16 instructions (AVX-512 BF16 or AMX); without them
  vLLM falls back to plain torch matmuls and batching stops paying (AVX2: bf16 1.1x at 32
  concurrent, fp32 2.7x). So bf16 where the CPU has it, fp32 where it does not.
- torch.compile on CPU costs a minute or more per start and its saved artifact did not load on
  a second start; eager mode decodes at the same speed. So eager on CPU, compiled on a GPU.
- Intel OpenMP (libiomp5, shipped with the intel-openmp wheel) is preloaded when present and
  `preload_iomp` is on; vLLM itself preloads torch's libgomp otherwise.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class CpuFeatures:
    flags: frozenset[str]
    cores: int

    @property
    def native_bf16(self) -> bool:
        return any(f in self.flags for f in BF16_FLAGS)

    @property
    def kind(self) -> str:
        """A short name for the instruction set class, for benchmark reports and logs."""
        if "amx_bf16" in self.flags:
            return "avx512+amx"
        if "avx512f" in self.flags:
            return "avx512"
        return "avx2" if "avx2" in self.flags else "other"


def parse_cpuinfo(text: str) -> frozenset[str]:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@lru_cache(maxsize=1)
def cpu_features() -> CpuFeatures:
    try:
        flags = parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        flags = frozenset()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return CpuFeatures(flags, cores)


def iomp_library() -> Path | None:
    """libiomp5.so from the intel-openmp wheel in this environment, if installed."""
    for d in (Path(sys.prefix) / "lib", Path(sys.base_prefix) / "lib"):
        if (d / "libiomp5.so").exists():
            return d / "libiomp5.so"
    return None


@dataclass(frozen=True)
class ServingSettings:
    """`reserved_cpus`: cores vLLM keeps free of compute threads for its scheduler (vLLM's own
    default on x86 is 1: on 2 cores, half the machine). `processes`: 3 is vLLM's default (API
    server, engine core, one worker: each spawned, each importing torch and vLLM, which is most
    of the start-up on a CPU); 2 runs the worker inside the engine core (`uni` executor); 1 runs
    the engine in the API server's process too. `pinned`: vLLM binds its compute thread to the
    first core it does not reserve (core 0 on 2 cores), from the worker's start (its imports
    too); every vLLM on the machine picks the same core, so two servers (two model families, or
    neighbours) share one core while the other idles. Unpinned, the OS places the threads: the
    worker started 2-5x faster beside other servers but decoded 0.1-0.4 tokens/s against 8-18
    pinned (benchmarks/serving.py, variant `unpinned`), so pinned stays the default."""

    dtype: str = "bfloat16"
    eager: bool = False
    preload: tuple[str, ...] = field(default_factory=tuple)
    reserved_cpus: int | None = None
    processes: int = 3
    pinned: bool = True

    def args(self) -> list[str]:
        return ["--dtype", self.dtype, *(["--enforce-eager"] if self.eager else []),
                *(["--distributed-executor-backend", "uni"] if self.processes < 3 else [])]

    def env(self) -> dict[str, str]:
        env = {}
        if self.preload:
            env["LD_PRELOAD"] = ":".join([*self.preload, *filter(None, [os.environ.get("LD_PRELOAD")])])
        if self.reserved_cpus is not None:
            env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(self.reserved_cpus)
        if self.processes < 2:
            env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        if not self.pinned:
            env["VLLM_CPU_OMP_THREADS_BIND"] = "nobind"
        return env

    def describe(self) -> str:
        return ", ".join([self.dtype, "eager" if self.eager else "compiled",
                          *(["iomp preloaded"] if self.preload else []),
                          *([f"{self.reserved_cpus} reserved cpus"] if self.reserved_cpus is not None else []),
                          *([f"{self.processes} processes"] if self.processes != 3 else []),
                          *(["unpinned"] if not self.pinned else [])])


def cpu_settings(features: CpuFeatures | None = None, preload_iomp: bool = False) -> ServingSettings:
    f = features or cpu_features()
    iomp = iomp_library() if preload_iomp else None
    return ServingSettings(dtype="bfloat16" if f.native_bf16 else "float32", eager=True,
                           preload=(str(iomp),) if iomp else ())
