"""Batched generation with transformers `generate` (CPU, tests, small GPUs): sampling's N responses per prompt and
evaluation's greedy answers (optionally through a PEFT adapter), with left padding and a prompt prefilled once."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from medprefs.console import announce
from medprefs.errors import MedprefsError
from medprefs.prompts import STOP_STRINGS
from medprefs.sampling.backends.base import Completion, cut_at_stop
from medprefs.sampling.backends.nucleus import NucleusSampler
from medprefs.sampling.backends.shared_prefix import (
    ATTENTION,
    SharedPrefixCache,
    decoding_with,
    supports_shared_prefix,
    use_shared_prefix_attention,
)
from medprefs.sampling.config import SampleConfig
from medprefs.sampling.plan import PromptJob, derive_seed


class TransformersBackend:
    name = "transformers"

    def __init__(self, model_path: str, config: SampleConfig, adapter: str | None = None):
        self.config = config
        self.jobs_per_call = config.batch_size
        self.model, self.tokenizer = _load(model_path, adapter, config)
        self.shares_prefix = self.model.config._attn_implementation == ATTENTION
        if not self.shares_prefix and config.n > 1:
            config_ = self.model.config
            announce(
                f"{model_path}: {config_.model_type} with {config_._attn_implementation} attention decodes each of the "
                f"n={config.n} responses against its own copy of the prompt's cache (slower; shared-prefix decoding "
                "covers Qwen2/3, Llama and Mistral with SDPA attention and no sliding window)"
            )
        self.device = self.model.device
        self.finish_ids = _finish_ids(self.model.generation_config.eos_token_id, self.tokenizer)
        self._stopping_criteria: dict[tuple[str, ...], Any] = {}

    def stopping_criteria(self, stop_strings: Sequence[str]):
        """Built once per stop-string set: `generate(stop_strings=...)` rebuilds it from the whole vocabulary on every
        call (17 ms with the tiny model's 1,200 tokens, far more with a real 150k vocabulary)."""
        from transformers import StoppingCriteriaList, StopStringCriteria

        key = tuple(stop_strings)
        if key not in self._stopping_criteria:
            self._stopping_criteria[key] = StoppingCriteriaList([StopStringCriteria(self.tokenizer, list(key))])
        return self._stopping_criteria[key]

    def generate(self, jobs: list[PromptJob], stop_strings: Sequence[str] = STOP_STRINGS) -> list[list[Completion]]:
        import torch

        encoded = self.tokenizer([job.prompt for job in jobs], return_tensors="pt", padding=True).to(self.device)
        input_ids = encoded["input_ids"].repeat_interleave(self.config.n, dim=0)
        attention_mask = encoded["attention_mask"].repeat_interleave(self.config.n, dim=0)
        # One seed per batch, made from its questions: a resumed run regenerates a batch with the same random stream.
        generator = torch.Generator(self.device).manual_seed(
            derive_seed(self.config.seed, "batch", *(job.seed for job in jobs))
        )
        with torch.inference_mode():
            cache = self._shared_prefix_cache(encoded["input_ids"], encoded["attention_mask"])
        with torch.inference_mode(), decoding_with(cache) if cache is not None else nullcontext():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                past_key_values=cache,
                **self._decoding_kwargs(generator),
                max_new_tokens=self.config.max_new_tokens,
                stopping_criteria=self.stopping_criteria(stop_strings),
                pad_token_id=self.tokenizer.pad_token_id,
            )
        generated = output[:, input_ids.shape[1] :].tolist()
        n = self.config.n
        return [
            [tokens_to_completion(tokens, self.finish_ids, self.tokenizer.decode, stop_strings) for tokens in group]
            for group in (generated[i * n : (i + 1) * n] for i in range(len(jobs)))
        ]

    def _shared_prefix_cache(self, input_ids, attention_mask):
        """Each prompt's KV cache but its last token, computed once and held once for its n samples (shared_prefix.py).

        `generate(num_return_sequences=n)` would copy each prompt n times before the prefill, and a padded batch
        prefill cannot use the fast causal attention kernel on CPU (3-4x slower at ~2k-token few-shot prompts). So each
        prompt is prefilled alone, unpadded, computing logits for its last position only; `generate` then feeds only
        the last prompt token of each row, and every step reads a prompt's cache once instead of n times. None where
        the model cannot (another attention, a sliding window, a one-token prompt): `generate` prefills as usual."""
        from transformers.cache_utils import DynamicLayer

        if not self.shares_prefix or int(attention_mask.sum(-1).min()) < 2:
            return None
        caches = []
        for row, mask in zip(input_ids, attention_mask, strict=True):
            prompt = row[mask.bool()][None, :-1]
            cache = self.model(input_ids=prompt, use_cache=True, logits_to_keep=1).past_key_values
            if any(type(layer) is not DynamicLayer for layer in cache.layers):
                return None  # sliding-window or other caches: let generate prefill the usual way
            caches.append(cache)
        return SharedPrefixCache(caches, self.config.n, new_tokens=1 + self.config.max_new_tokens)

    def _decoding_kwargs(self, generator) -> dict[str, Any]:
        """Greedy at temperature 0; otherwise our nucleus sampler draws and `generate`'s argmax takes its token
        (see nucleus.py: it skips the per-step vocabulary sort that dominated CPU decoding)."""
        from transformers import LogitsProcessorList

        greedy = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if self.config.temperature == 0:
            return greedy
        sampler = NucleusSampler(self.config.temperature, self.config.top_p, generator)
        return {**greedy, "logits_processor": LogitsProcessorList([sampler])}

    def close(self) -> None:
        del self.model


def tokens_to_completion(
    tokens: list[int], finish_ids: set[int], decode, stop_strings: Sequence[str] = STOP_STRINGS
) -> Completion:
    """Text, finish reason and token count of one generated row (which is padded after it finished).

    The pad id can equal EOS, so where a stop string ended the row, its length is the shortest prefix that contains
    the stop string: exactly where the stopping criterion fired."""
    end = next((i + 1 for i, token in enumerate(tokens) if token in finish_ids), None)
    kept = tokens[:end] if end is not None else tokens
    text, stopped = cut_at_stop(decode(kept, skip_special_tokens=True), stop_strings)
    if stopped:
        low, high = 1, len(kept)
        while low < high:  # containing a stop string is monotone in the prefix length
            middle = (low + high) // 2
            if cut_at_stop(decode(kept[:middle], skip_special_tokens=True), stop_strings)[1]:
                high = middle
            else:
                low = middle + 1
        return Completion(text=text, finish_reason="stop", n_tokens=low)
    return Completion(text=text, finish_reason="stop" if end is not None else "length", n_tokens=len(kept))


def _finish_ids(eos: int | list[int] | None, tokenizer) -> set[int]:
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    ids.update(i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None)
    return ids


def _load(model_path: str, adapter: str | None, config: SampleConfig) -> tuple[Any, Any]:
    """(model in eval mode, left-padding tokenizer); anything that does not load is one clear error naming the path.

    dtype "auto" is float32 on CPU (bf16/fp16 matmuls are slow or missing there) and the checkpoint's dtype on GPU;
    with several GPUs visible the layers are spread over them (device_map="auto")."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    if not Path(model_path).is_dir():
        raise MedprefsError(f"{model_path}: model folder not found")
    device = _device(config.device)
    if config.dtype != "auto":
        dtype: Any = getattr(torch, config.dtype)
    else:
        dtype = "auto" if device == "cuda" else torch.float32
    spread = device == "cuda" and torch.cuda.device_count() > 1
    try:
        # Left padding: every prompt in a batch must end right where generation starts.
        tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, device_map="auto" if spread else None)
    except (OSError, ValueError, KeyError) as error:
        raise MedprefsError(f"{model_path}: cannot load the model ({str(error).splitlines()[0]})") from None
    if not spread:
        model = model.to(device)
    # Decoding follows the recorded sampling parameters only: a checkpoint's generation_config.json may carry defaults
    # (Qwen2.5-Instruct's has repetition_penalty 1.05 and top_k 20) that `generate` would otherwise apply unrecorded.
    # Its special-token ids are kept: they say where a response ends.
    shipped = model.generation_config
    model.generation_config = GenerationConfig(
        bos_token_id=shipped.bos_token_id, eos_token_id=shipped.eos_token_id, pad_token_id=shipped.pad_token_id
    )
    if supports_shared_prefix(model):
        use_shared_prefix_attention(model)
    if adapter:
        model = _with_adapter(model, adapter)
    if tokenizer.pad_token_id is None:  # decoder-only checkpoints often ship without one; EOS pads safely on the left
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer


def _with_adapter(model: Any, adapter: str) -> Any:
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise MedprefsError(f"{adapter}: not a PEFT adapter folder (no adapter_config.json)")
    try:
        return PeftModel.from_pretrained(model, adapter)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise MedprefsError(f"{adapter}: cannot load the adapter ({str(error).splitlines()[0]})") from None


def _device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise MedprefsError("sample.device = 'cuda' but no CUDA device is visible; use device = 'auto' or 'cpu'")
    return choice
