"""Measuring what a phase costs: wall seconds and peak memory (RSS, or CUDA memory when used)."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch


def _reset_rss_peak() -> bool:
    """Linux lets a process reset its high-water mark, which makes per-phase peaks possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def proc_status_mb(field: str) -> float | None:
    """A memory line of /proc/self/status (VmRSS: now, VmHWM: the high-water mark) in MB; None without /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_peak_mb() -> float:
    found = proc_status_mb("VmHWM")
    if found is not None:
        return found
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class PeakMemory:
    """`with PeakMemory() as m: ...` then `m.megabytes` and `m.seconds` for that block."""

    def __enter__(self) -> PeakMemory:
        self.per_phase = _reset_rss_peak()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
        if torch.cuda.is_available():
            self.megabytes = torch.cuda.max_memory_allocated() / 2**20
        else:
            self.megabytes = _rss_peak_mb()


def resident_mb() -> float:
    """This process's resident memory now (VmRSS), in MB; 0 where /proc is missing."""
    return proc_status_mb("VmRSS") or 0.0


class ResidentPeak:
    """`with ResidentPeak() as r: ...` then `r.megabytes`: the most resident memory seen while the
    block ran, sampled every `interval` seconds from a thread. Unlike `PeakMemory`'s high-water
    mark, nested blocks that reset that mark (each LoRA write does) cannot hide an earlier peak."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.megabytes = 0.0

    def __enter__(self) -> ResidentPeak:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while True:
            self.megabytes = max(self.megabytes, resident_mb())
            if self._stop.wait(self.interval):
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.megabytes = max(self.megabytes, resident_mb())


def question_flops(config: Any, n_params: int, own_tokens: float, answer_tokens: float, context_tokens: float) -> float:
    """What a question must compute once a shared context is cached: the weights over its own and
    its answer's tokens (2 x params each), and attention from each of them to every context token
    (scores and weighted values: 4 x layers x heads x head_dim per pair). A long context on a small
    model costs as much attention as the whole model: SmolLM2-135M at 4K context doubles a token."""
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    head_dim = int(getattr(config, "head_dim", 0) or (getattr(config, "hidden_size", 0) // max(heads, 1)))
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    tokens = own_tokens + answer_tokens
    return 2.0 * n_params * tokens + 4.0 * layers * heads * head_dim * context_tokens * tokens


# Floats a training forward keeps per token and layer, per unit of (hidden + intermediate) width,
# and vocabulary-wide copies of the logits (the logits, their upcast, log-softmax and gradients):
# calibrated on SmolLM2-135M (fp32, LoRA rank 32), one peft forward and backward with freed memory
# returned between them (`release_freed_memory`), resident peak above the loaded model: 2.9-3.6 MB
# a token without checkpointing (rows of 800-1,600 tokens), 1.2-1.6 MB with it (2,048).
SAVED_PER_LAYER_WIDTH = 9
LOGIT_COPIES = 6


def training_bytes_per_token(config: Any, checkpointing: bool = False) -> float:
    """What training keeps for backward per token, from the model's shape, not a constant: every
    layer's activations, or with gradient checkpointing only each layer's input plus one layer
    recomputed at a time; and the vocabulary-wide logits, which checkpointing does not spare."""
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    width = hidden + int(getattr(config, "intermediate_size", 0) or 4 * hidden)
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    per_layer = SAVED_PER_LAYER_WIDTH * width
    kept = layers * hidden + per_layer if checkpointing else layers * per_layer
    return 4.0 * (kept + LOGIT_COPIES * vocab)


def release_freed_memory() -> None:
    """Hand memory that torch freed back to the system (glibc's malloc_trim), so the resident size
    after a training step is what the next one needs, not every step's high-water mark piled up
    (a run of long pages otherwise grows by gigabytes). A no-op where there is no glibc."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
