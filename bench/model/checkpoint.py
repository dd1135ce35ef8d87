"""Training state on disk, so a stopped adapter write resumes where it was instead of starting over.

A study-profile cell trains 1,500 steps (about an hour on 2 CPU cores); a session's end or a
kill -9 would otherwise lose all of it. The file holds everything the next step depends on: the
trainable weights, the optimizer's moments, the global RNG (dropout draws from it), the step and
the log so far. Written beside its target and renamed, so a kill mid-write leaves the last one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass
class TrainState:
    """Where a training loop is: the step done, tokens so far, finished epochs' mean losses,
    the current epoch's losses, and seconds spent before this process."""

    step: int = 0
    tokens: int = 0
    losses: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    teacher_tokens: int = 0  # deep context distillation: tokens the teacher read (forward only)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters a step changes, by name (a LoRA's adapters: the frozen base is not saved)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(path: Path, state: TrainState, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Everything needed to take the next step exactly as an uninterrupted run would."""
    payload = {
        "state": asdict(state),
        "weights": trainable_state(model),
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> TrainState | None:
    """Restore a saved state into `model` and `optimizer` (and the global RNG); None when there is
    none, or when it does not fit this model (then training starts over, as without one)."""
    if not path.is_file():
        return None
    try:
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        params = dict(model.named_parameters())
        weights = payload["weights"]
        trainable = {n: p for n, p in params.items() if p.requires_grad}
        if set(weights) != set(trainable) or any(weights[n].shape != p.shape for n, p in trainable.items()):
            return None
        state = TrainState(**payload["state"])
        optimizer.load_state_dict(payload["optimizer"])  # checks the groups' sizes before it changes anything
        torch.set_rng_state(payload["rng"])
        if payload["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(payload["cuda_rng"])
        with torch.no_grad():
            for name, tensor in weights.items():
                params[name].copy_(tensor)
        return state
    except (OSError, RuntimeError, KeyError, TypeError, ValueError):  # torn or foreign file: start over
        return None
