"""Loading the base model for training: QLoRA (4-bit NF4, double quantisation) on GPUs, plain weights on CPU."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medprefs.console import announce
from medprefs.errors import MedprefsError
from medprefs.train.config import LoraSettings, TrainSection


@dataclass(frozen=True)
class Placement:
    """Where and how the weights live: decided once from the config and the hardware, recorded in the manifest."""

    device: str  # "cuda" | "cpu"
    quantize_4bit: bool
    bf16: bool

    def describe(self) -> str:
        weights = "4-bit NF4 (double quantisation)" if self.quantize_4bit else ("bf16" if self.bf16 else "fp32")
        return f"{self.device}, {weights} weights"


def choose_placement(config: TrainSection) -> Placement:
    """Resolve quantization/precision "auto" against the hardware; on CPU, "auto" means plain (LoRA) weights."""
    import torch

    cuda = torch.cuda.is_available() and not config.use_cpu
    bf16 = config.precision == "bf16" or (config.precision == "auto" and cuda and torch.cuda.is_bf16_supported())
    if config.quantization == "auto":
        quantize = cuda and not config.full_finetune
        if not cuda and not config.full_finetune and is_main_process():
            announce("no CUDA device: training a LoRA adapter on unquantised weights (QLoRA's 4-bit NF4 needs a GPU)")
    else:
        quantize = config.quantization == "nf4"
    return Placement(device="cuda" if cuda else "cpu", quantize_4bit=quantize, bf16=bf16)


def is_main_process() -> bool:
    """Rank 0 of a torchrun/accelerate launch (or the only process); the one that announces and writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def load_tokenizer(name: str, revision: str | None):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision)
    except (OSError, ValueError) as error:
        raise MedprefsError(f"cannot load the tokenizer of {name}: {_first_line(error)}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token is None:
        raise MedprefsError(f"{name}: the tokenizer has no EOS token, which CPT puts between documents")
    return tokenizer


def load_model(name: str, revision: str | None, placement: Placement):
    """A causal LM, 4-bit NF4 with double quantisation when `placement` says so (bitsandbytes, imported here)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"revision": revision, "dtype": torch.bfloat16 if placement.bf16 else torch.float32}
    if placement.quantize_4bit:
        kwargs["quantization_config"] = _nf4_config(kwargs["dtype"])
    if placement.device == "cuda" and os.environ.get("ACCELERATE_USE_FSDP", "false").lower() != "true":
        # DDP: each process holds a whole (quantised) copy on its own GPU; FSDP places and shards weights itself
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    elif placement.device == "cpu" and placement.quantize_4bit:
        kwargs["device_map"] = "cpu"
    try:
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as error:
        raise MedprefsError(f"cannot load model {name}{'@' + revision if revision else ''}: {_first_line(error)}") from None
    if placement.quantize_4bit and placement.device == "cpu":
        _keep_4bit_trainable_on_cpu(model)
    return model


def lora_config(settings: LoraSettings):
    from peft import LoraConfig

    targets = settings.target_modules
    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules="all-linear" if targets == ["all-linear"] else list(targets),
        modules_to_save=list(settings.modules_to_save) or None,
        task_type="CAUSAL_LM",
    )


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def trainable_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _nf4_config(compute_dtype):
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise MedprefsError(
            "bitsandbytes is not installed; install medprefs[gpu] for 4-bit QLoRA or set quantization = \"none\""
        ) from None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
        # Storing the packed 4-bit weights in the compute dtype lets FSDP shard them with the other parameters
        bnb_4bit_quant_storage=compute_dtype,
    )


def _keep_4bit_trainable_on_cpu(model) -> None:
    """bitsandbytes on AVX512-BF16 CPUs repacks 4-bit weights for inference after any eval-mode forward (evaluation,
    reference log-probs), after which training breaks or gets no gradient; opting out of that kernel avoids it."""
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def merge_adapter(base_model: str, adapter_dir: str | Path, out_dir: str | Path) -> Path:
    """Fold a LoRA adapter into a full-precision copy of the base and save it with the tokenizer: the single model
    folder sampling backends (and vLLM) load. Merging into 4-bit weights would be lossy, so the base is loaded plain."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medprefs.manifest import MANIFEST, now_iso, read_manifest, sha256_file, write_manifest

    out_dir = Path(out_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_model), str(adapter_dir))
    model.merge_and_unload().save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(base_model).save_pretrained(out_dir)
    # The merged folder is what sampling records as its model; without this manifest its provenance (which base
    # commit, which adapter, trained on which datasets) would end at a bare path.
    adapter_manifest = Path(adapter_dir) / MANIFEST
    trained = read_manifest(adapter_dir) if adapter_manifest.is_file() else {}
    write_manifest(out_dir, {
        "kind": "model",
        "stage": "merge",
        "created": now_iso(),
        "base_model": trained.get("base_model", base_model),
        "base_revision": trained.get("base_revision"),
        "merged_from": {
            "base_weights": str(base_model),
            "adapter": str(adapter_dir),
            "adapter_manifest_sha256": sha256_file(adapter_manifest) if trained else None,
        },
        "lineage": trained.get("lineage", []),
    })
    return out_dir
