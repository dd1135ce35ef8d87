"""Deep context distillation's loss: the student (adapter on, no document) matches the teacher
(adapter off, the document in its context) on the tokens both read.

As the study's trainer computes it (src/trainers/dcd_trainer.py, `_calculate_dcd_loss`): KL
divergence between temperature-softened next-token distributions, plus each hidden state's mean
absolute difference relative to the teacher's mean magnitude, averaged over layers and weighted.
Knowledge Modules (arXiv 2503.08727) train the same objective.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def distill_loss(
    teacher_logits: torch.Tensor,
    student_logits: torch.Tensor,
    teacher_hidden: Sequence[torch.Tensor],
    student_hidden: Sequence[torch.Tensor],
    temperature: float,
    l1_weight: float,
) -> tuple[torch.Tensor, float, float]:
    """(loss to backpropagate, its KL part, its L1 part) over aligned rows of positions x features."""
    teacher_probs = F.softmax(teacher_logits.float() / temperature, dim=-1)
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=-1)
    kl = F.kl_div(student_log_probs, teacher_probs, reduction="none").sum(dim=-1).mean()
    layers = [
        (s - t).abs().mean() / (t.abs().mean() + 1e-8) for s, t in zip(student_hidden, teacher_hidden, strict=True)
    ]
    l1 = torch.stack(layers).mean() if layers else kl.new_zeros(())
    return kl + l1_weight * l1, kl.item(), l1.item()
