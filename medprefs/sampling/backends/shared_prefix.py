"""Decoding the n samples of a prompt against one copy of the prompt's KV cache, as vLLM's prefix sharing does.

A batch of P prompts with n samples each decodes B = P x n rows. With a plain cache every row holds its own copy of
its prompt's keys and values, so every decoding step reads the prompt's cache n times: on CPU that read is
memory-bound and was 40% of sampling time with 3-shot prompts (900 tokens, n = 8). Here the cache holds each prompt
once (P x heads x width) plus each row's own generated tokens (B x heads x new tokens), and attention takes the scores
of all n rows of a prompt against its prefix in one matrix product, then one softmax over prefix and own tokens.

Two pieces of transformers' public extension points carry it:
- `SharedPrefixCache`, a `Cache` whose layers report the prompt width as already seen (so generate feeds only the
  last prompt token, at the right positions) and store what the rows generate;
- the attention function registered as ATTENTION: inside `decoding_with(cache)` it attends as above; outside, it is
  exactly transformers' SDPA attention (prefill, evaluation). `generate` passes no extra model arguments through to
  attention, hence the context variable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.cache_utils import Cache, CacheLayerMixin
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION = "medprefs_shared_prefix"
_ACTIVE: ContextVar[SharedPrefixCache | None] = ContextVar("medprefs_shared_prefix", default=None)


class SharedPrefixLayer(CacheLayerMixin):
    """One layer: the prompts' keys and values once, left-padded to a common width, and each row's new tokens."""

    is_compileable = False
    is_sliding = False

    def __init__(
        self, prefix_keys: torch.Tensor, prefix_values: torch.Tensor, prefix_valid: torch.Tensor, n: int, capacity: int
    ):
        super().__init__()
        prompts, heads, self.width, head_dim = prefix_keys.shape
        self.n, self.capacity = n, capacity
        self.prefix_keys, self.prefix_values = prefix_keys, prefix_values
        # Added to the scores: -inf on the left padding of shorter prompts.
        zero = torch.zeros((), dtype=prefix_keys.dtype, device=prefix_keys.device)
        self.prefix_bias = torch.where(prefix_valid, zero, float("-inf"))[:, None, None, :]
        self.batch_size = prompts * n
        self.keys = prefix_keys.new_zeros((self.batch_size, heads, capacity, head_dim))
        self.values = prefix_values.new_zeros((self.batch_size, heads, capacity, prefix_values.shape[-1]))
        self.written = 0
        self.dtype, self.device = prefix_keys.dtype, prefix_keys.device
        self.is_initialized = True

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        pass  # built complete in __init__

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
        new = key_states.shape[-2]
        if self.written + new > self.capacity:
            raise RuntimeError(f"shared-prefix cache full: {self.capacity} new tokens")
        self.keys[:, :, self.written : self.written + new] = key_states
        self.values[:, :, self.written : self.written + new] = value_states
        self.written += new
        return self.keys[:, :, : self.written], self.values[:, :, : self.written]

    def get_seq_length(self) -> int:
        return self.width + self.written

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.width + self.capacity, 0  # as a static cache of the same length (the mask is not used here)

    def get_max_length(self) -> int:
        return self.width + self.capacity

    def attend(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scaling: float) -> torch.Tensor:
        """Attention of one new token per row over its prompt's prefix and its own new tokens: (B, 1, heads, dim)."""
        rows, heads, length, head_dim = query.shape
        if length != 1:
            raise RuntimeError("the shared-prefix cache decodes one token per row at a time")
        prompts, kv_heads, width, _ = self.prefix_keys.shape
        n, groups = self.n, heads // kv_heads
        # Query head h uses key head h // groups (transformers' repeat_kv order); rows p*n .. p*n+n-1 share prompt p.
        by_row = query.reshape(rows, kv_heads, groups, head_dim)
        by_prompt = by_row.view(prompts, n, kv_heads, groups, head_dim).transpose(1, 2)
        by_prompt = by_prompt.reshape(prompts, kv_heads, n * groups, head_dim)
        prefix_scores = torch.matmul(by_prompt, self.prefix_keys.transpose(-1, -2)) * scaling + self.prefix_bias
        prefix_scores = prefix_scores.view(prompts, kv_heads, n, groups, width).transpose(1, 2)
        own_scores = torch.matmul(by_row, keys.transpose(-1, -2)) * scaling
        scores = torch.cat([prefix_scores.reshape(rows, kv_heads, groups, width), own_scores], dim=-1)
        weights = scores.float().softmax(-1).to(query.dtype)
        prefix_weights, own_weights = weights.split([width, keys.shape[-2]], dim=-1)
        prefix_weights = prefix_weights.view(prompts, n, kv_heads, groups, width).transpose(1, 2)
        prefix_out = torch.matmul(prefix_weights.reshape(prompts, kv_heads, n * groups, width), self.prefix_values)
        prefix_out = prefix_out.view(prompts, kv_heads, n, groups, head_dim).transpose(1, 2)
        out = prefix_out.reshape(rows, kv_heads, groups, head_dim) + torch.matmul(own_weights, values)
        return out.reshape(rows, 1, heads, head_dim)


class SharedPrefixCache(Cache):
    """The cache of a batch of prompts x n samples, from each prompt's own (unpadded) prefill cache."""

    def __init__(self, prompt_caches: list[Any], n: int, new_tokens: int):
        widths = [cache.get_seq_length() for cache in prompt_caches]
        width = max(widths)
        layers = []
        for index in range(len(prompt_caches[0].layers)):
            keys = [cache.layers[index].keys for cache in prompt_caches]
            values = [cache.layers[index].values for cache in prompt_caches]
            layers.append(
                SharedPrefixLayer(
                    _left_pad(keys, width),
                    _left_pad(values, width),
                    _valid(widths, width, keys[0].device),
                    n,
                    capacity=new_tokens,
                )
            )
        super().__init__(layers=layers)


@contextmanager
def decoding_with(cache: SharedPrefixCache) -> Iterator[None]:
    """Attention reads the prompts' prefix from `cache` while this block runs (`generate` with that cache)."""
    token = _ACTIVE.set(cache)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def shared_prefix_attention(module, query, key, value, attention_mask, **kwargs):
    """transformers' SDPA attention, unless a SharedPrefixCache is active (`decoding_with`)."""
    cache = _ACTIVE.get()
    if cache is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    scaling = kwargs.get("scaling") or query.shape[-1] ** -0.5
    return cache.layers[module.layer_idx].attend(query, key, value, scaling), None


# Architectures whose attention is plain scaled dot-product over rotary keys, as `attend` computes it. Others may add
# what it leaves out (logit soft-capping, attention sinks, ALiBi biases) and keep transformers' own path.
MODEL_TYPES = frozenset({"qwen2", "qwen3", "llama", "mistral"})


def supports_shared_prefix(model: Any) -> bool:
    """Whether `model` can decode with a SharedPrefixCache: a known architecture with SDPA attention on every layer
    and no sliding window."""
    config = model.config
    layer_types = getattr(config, "layer_types", None) or []
    return (
        config.model_type in MODEL_TYPES
        and config._attn_implementation in ("sdpa", ATTENTION)
        and all(kind == "full_attention" for kind in layer_types)
    )


def use_shared_prefix_attention(model: Any) -> None:
    """Route the model's attention through `shared_prefix_attention` (SDPA whenever no shared prefix is given)."""
    model.set_attn_implementation(ATTENTION)


def _left_pad(tensors: list[torch.Tensor], width: int) -> torch.Tensor:
    return torch.cat([torch.nn.functional.pad(t, (0, 0, width - t.shape[-2], 0)) for t in tensors])


def _valid(widths: list[int], width: int, device: Any) -> torch.Tensor:
    positions = torch.arange(width, device=device)
    return positions[None, :] >= torch.tensor([width - w for w in widths], device=device)[:, None]


AttentionInterface.register(ATTENTION, shared_prefix_attention)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)  # masks exactly as for SDPA (prefill, eval batches)
