"""The Pareto front of (cost, score): rows no other row beats on both."""

from __future__ import annotations

from collections.abc import Sequence


def pareto_front(costs: Sequence[float], scores: Sequence[float], higher_is_better: bool = True) -> list[int]:
    """Indices on the front, ordered by cost: lower cost and a better score, where better is
    higher or, for a metric whose task says so (`higher_is_better=False`), lower."""
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -sign * scores[i]))
    front, best = [], float("-inf")
    for i in order:
        if sign * scores[i] > best:
            front.append(i)
            best = sign * scores[i]
    return front
