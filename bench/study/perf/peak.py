"""The machine's matmul peak: the denominator that makes throughput comparable across machines."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPUs without them emulate bf16, far below their fp32 peak


@dataclass(frozen=True)
class Peak:
    """Best GFLOP/s of a square matmul in fp32 and, where the device has it natively, bf16."""

    fp32_gflops: float
    bf16_gflops: float | None
    size: int
    repeats: int
    device: str
    threads: int

    def best(self, other: Peak) -> Peak:
        """The higher of two measurements of the same device, dtype by dtype (a moment of
        contention lowers one; nothing raises one above what the machine does)."""
        bf16 = [x for x in (self.bf16_gflops, other.bf16_gflops) if x is not None]
        return Peak(max(self.fp32_gflops, other.fp32_gflops), max(bf16) if bf16 else None, self.size,
                    self.repeats + other.repeats, self.device, self.threads)  # fmt: skip

    def for_dtype(self, dtype: torch.dtype) -> float:
        """The peak a model computing in `dtype` is measured against (fp32 where bf16 was not measured)."""
        if dtype == torch.bfloat16 and self.bf16_gflops:
            return self.bf16_gflops
        return self.fp32_gflops


def bf16_native(device: torch.device) -> bool:
    """Whether the device computes bf16 in hardware: CUDA's own answer, or the CPU's feature flags."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(dtype: torch.dtype, device: torch.device, size: int, repeats: int) -> float:
    """Best of `repeats` timed products after one warm-up, with torch's threads as they are set."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    best = float("inf")
    for i in range(repeats + 1):
        _sync(device)
        started = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        if i:  # the first product pays for allocation and kernel selection
            best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 / best / 1e9


def measure_peak(device: torch.device, size: int = 0, repeats: int = 5) -> Peak:
    """The peak on `device`; size 0 picks one big enough to reach it (2048 on CPU, 8192 on CUDA)."""
    size = size or (8192 if device.type == "cuda" else 2048)
    fp32 = matmul_gflops(torch.float32, device, size, repeats)
    bf16 = matmul_gflops(torch.bfloat16, device, size, repeats) if bf16_native(device) else None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return Peak(fp32, bf16, size, repeats, name, torch.get_num_threads())
