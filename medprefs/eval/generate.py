"""Greedy generation with transformers for `eval run`: a base model plus optional PEFT adapter, left-padded batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medprefs.errors import MedprefsError
from medprefs.sampling import cut_at_stop


@dataclass(frozen=True)
class Generation:
    text: str  # the completion, cut before the first stop string
    finish_reason: str  # "stop" (stop string or end of sequence) or "length"
    n_tokens: int


def load_model(model_path: str, adapter: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) ready for left-padded greedy decoding; a folder that does not load is one clear error."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not Path(model_path).exists():
        raise MedprefsError(f"{model_path}: model folder not found")
    on_gpu = torch.cuda.is_available()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(
            model_path, dtype="auto" if on_gpu else torch.float32, device_map="auto" if on_gpu else None
        )
    except (OSError, ValueError, KeyError) as error:
        raise MedprefsError(f"{model_path}: cannot load the model ({str(error).splitlines()[0]})") from None
    if adapter:
        model = _with_adapter(model, adapter)
    if tokenizer.pad_token_id is None:  # decoder-only checkpoints often ship without one; EOS pads safely on the left
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


def _with_adapter(model: Any, adapter: str) -> Any:
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise MedprefsError(f"{adapter}: not a PEFT adapter folder (no adapter_config.json)")
    try:
        return PeftModel.from_pretrained(model, adapter)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise MedprefsError(f"{adapter}: cannot load the adapter ({str(error).splitlines()[0]})") from None


def generate_greedy(
    model: Any, tokenizer: Any, prompts: list[str], stop_strings: list[str], max_new_tokens: int
) -> list[Generation]:
    """One batch of greedy completions; generation halts at a stop string, which is then cut off."""
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(
        do_sample=False,
        max_new_tokens=max_new_tokens,
        stop_strings=stop_strings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    batch = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
    with torch.inference_mode():
        output = model.generate(**batch, generation_config=config, tokenizer=tokenizer)
    new_tokens = output[:, batch["input_ids"].shape[1] :].tolist()
    return [_to_generation(tokens, tokenizer, stop_strings, max_new_tokens) for tokens in new_tokens]


def _to_generation(tokens: list[int], tokenizer: Any, stop_strings: list[str], max_new_tokens: int) -> Generation:
    ends = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    length = next((i for i, token in enumerate(tokens) if token in ends), len(tokens))
    text, stopped = cut_at_stop(tokenizer.decode(tokens[:length], skip_special_tokens=True), stop_strings)
    finished = stopped or length < len(tokens) or length < max_new_tokens
    return Generation(text=text, finish_reason="stop" if finished else "length", n_tokens=length)
