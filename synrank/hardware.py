"""What this CPU runs natively: the checks that decide whether a precision or backend is allowed."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 on this CPU natively (AVX-512 or AMX); on AVX2-only CPUs it emulates it."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where that file does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_int8_dot() -> bool:
    """Whether the CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX-INT8), without
    which int8 inference is no faster than fp32."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_description() -> str:
    """torch's CPU capability (``AVX512``, ``AVX2``, ...) for messages."""
    return str(torch.backends.cpu.get_cpu_capability())
