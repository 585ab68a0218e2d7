"""Temperature + top-p (nucleus) sampling without sorting the vocabulary, as a logits processor for `generate`.

transformers' `TopPLogitsWarper` sorts the whole vocabulary for every row at every step, then `multinomial` draws.
On CPU that is most of the per-row cost of a decoding step: 70-130 us a row with a 1,200-token vocabulary and 14-24 ms
a row with Qwen's 152k (1 CPU thread, two machines), as much as the tiny model's whole forward pass for that row.
Here the draw is made by rejection, as GPU samplers such as FlashInfer's do: draw a token from the distribution
restricted to tokens above a pivot probability; it is kept if the tokens more likely than it hold less than `top_p`
of the mass (exactly transformers' rule for the nucleus); otherwise its probability becomes the pivot and the row
draws again. Each accepted draw is distributed exactly as the renormalised nucleus, and a round costs a few passes
over the vocabulary instead of a sort.

`generate` has no hook for the draw itself, so the processor makes it and returns scores in which only the drawn
token is finite; the backend then calls `generate(do_sample=False)`, whose argmax picks that token.
"""

from __future__ import annotations

from typing import Any

from transformers import LogitsProcessor


class NucleusSampler(LogitsProcessor):
    """Draws one token per row from softmax(scores / temperature) restricted to the top-p nucleus, with `generator`."""

    def __init__(self, temperature: float, top_p: float, generator: Any):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0 for sampling, got {temperature}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        self.temperature = temperature
        self.top_p = top_p
        self.generator = generator

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        drawn = self.draw(scores)
        chosen = torch.full_like(scores, float("-inf"))
        chosen.scatter_(1, drawn[:, None], 0.0)
        return chosen

    def draw(self, scores: Any) -> Any:
        """One token id per row of `scores` (rows x vocabulary logits)."""
        import torch

        probs = (scores.float() / self.temperature).softmax(-1)
        drawn = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
        pivot = torch.full((probs.shape[0],), -1.0, device=probs.device)  # below every probability: all tokens
        pending = torch.arange(probs.shape[0], device=probs.device)
        while pending.numel():
            row_probs = probs[pending]
            allowed = torch.where(row_probs > pivot[pending, None], row_probs, 0.0)
            cumulative = allowed.cumsum(-1)
            total = cumulative[:, -1:]
            # Strictly below the total, so the search lands on a token with non-zero mass even after rounding.
            target = torch.minimum(
                torch.rand(total.shape, generator=self.generator, device=probs.device) * total,
                total.nextafter(torch.zeros_like(total)),
            )
            token = torch.searchsorted(cumulative, target, right=True).squeeze(1)
            token_prob = row_probs.gather(1, token[:, None])
            mass_above = torch.where(row_probs > token_prob, row_probs, 0.0).sum(-1)
            # The most likely token always has mass_above = 0, so every row is accepted within a few rounds.
            accepted = mass_above < self.top_p if self.top_p < 1 else torch.ones_like(mass_above, dtype=torch.bool)
            drawn[pending[accepted]] = token[accepted]
            pivot[pending[~accepted]] = token_prob[~accepted, 0]
            pending = pending[~accepted]
        return drawn
