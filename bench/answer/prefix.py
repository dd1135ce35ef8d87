"""One key/value cache for a prefix every question shares (ICL's corpus), read by every row of a
batch without a copy per row: cascade attention, as prefix-caching servers do.

A plain cache would be repeated per row and grown by concatenation at every generated token, so
each token of each batch copied the whole prefix's keys and values (B rows x 4K tokens). Here the
prefix stays one batch-1 tensor per layer. `SharedPrefixCache` holds only what each row adds and
reports the prefix's length as already seen, so positions, masks and generate's slicing of the
input see the whole sequence; `shared_prefix_attention` attends a batch's queries to the prefix
(one broadcast matmul) and to the rows' own keys, under one softmax, as attention over the
concatenation would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from transformers import AttentionInterface, DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

ATTENTION = "kmbench_shared_prefix"


class SharedPrefixLayer(DynamicLayer):
    """A layer's cache: the shared prefix's keys and values (batch 1, never copied), then each row's own."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        self.prefix = (keys, values)

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        """The row's own keys and values so far, carrying the prefix for `cascade_attention`."""
        keys, values = super().update(key_states, value_states, *args, **kwargs)
        keys.shared_prefix = self.prefix  # how the attention below finds the prefix of this layer
        return keys, values

    def get_seq_length(self) -> int:
        """The prefix counts as seen, so positions and generate's input slicing start after it."""
        return self.prefix[0].shape[-2] + super().get_seq_length()

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        """Masks span [prefix | own keys | query], the scores `cascade_attention` concatenates."""
        return self.get_seq_length() + query_length, 0


class SharedPrefixCache(DynamicCache):
    """A batch's cache over a prefix encoded once (`prefix`, a batch-1 cache of the model)."""

    def __init__(self, prefix: Any) -> None:
        super().__init__()
        self.layers = [SharedPrefixLayer(layer.keys, layer.values) for layer in prefix.layers]


def cascade_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention over [prefix | own keys]: scores against the batch-1 prefix broadcast over the rows,
    one softmax over both parts, the outputs summed. Forwards without a shared prefix use sdpa."""
    prefix = getattr(key, "shared_prefix", None)
    if prefix is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    prefix_keys, prefix_values = prefix[0][0], prefix[1][0]  # (kv heads, prefix length, dim)
    batch, heads, length, dim = query.shape
    kv_heads, split = key.shape[1], prefix_keys.shape[-2]
    rows = (heads // kv_heads) * length  # per kv head: the queries of the heads that share it (GQA)
    scaling = dim**-0.5 if scaling is None else scaling
    grouped = query.reshape(batch, kv_heads, rows, dim)
    # the prefix as one matmul per kv head, the batch folded into its rows: its keys are never expanded
    folded = grouped.transpose(0, 1).reshape(kv_heads, batch * rows, dim)
    to_prefix = (folded @ prefix_keys.transpose(-1, -2)).reshape(kv_heads, batch, rows, split).transpose(0, 1)
    scores = torch.cat([to_prefix, grouped @ key.transpose(-1, -2)], dim=-1).reshape(batch, heads, length, -1)
    if attention_mask is None:  # causal over the rows' own keys; the prefix is seen by every query
        own = torch.ones(length, key.shape[-2], dtype=torch.bool, device=query.device).tril(key.shape[-2] - length)
        allowed = torch.cat([own.new_ones(length, split), own], dim=-1)
        attention_mask = torch.zeros(allowed.shape, dtype=scores.dtype, device=query.device)
        attention_mask = attention_mask.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores * scaling + attention_mask, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = weights.reshape(batch, kv_heads, rows, -1)
    on_prefix = weights[..., :split].transpose(0, 1).reshape(kv_heads, batch * rows, split) @ prefix_values
    out = on_prefix.reshape(kv_heads, batch, rows, dim).transpose(0, 1) + weights[..., split:] @ value
    return out.reshape(batch, heads, length, dim).transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION, cascade_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION, eager_mask)


def supports_shared_prefix(model: Any) -> bool:
    """Models whose every layer attends over the whole sequence (no sliding window, no softcapping):
    others keep the copied cache, whose masks their own code builds."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    layer_types = getattr(config, "layer_types", None) or ["full_attention"]
    return (
        all(kind == "full_attention" for kind in layer_types)
        and not getattr(config, "sliding_window", None)
        and not getattr(config, "attn_logit_softcapping", None)
    )


@contextmanager
def shared_prefix_attention(model: Any) -> Iterator[None]:
    """The model attends with `cascade_attention` inside the block, and as before after it."""
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = ATTENTION
    try:
        yield
    finally:
        config._attn_implementation = before
