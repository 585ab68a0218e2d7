"""The `[cpt]` and `[rpo]` pipeline sections: typed training configs, validated on construction, loaded from TOML."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medprefs.config import apply_overrides, from_dict, read_toml
from medprefs.errors import MedprefsError, require

Quantization = Literal["auto", "nf4", "none"]
Precision = Literal["auto", "bf16", "fp32"]
Scheduler = Literal["cosine", "linear", "constant_with_warmup", "cosine_with_min_lr"]
Section = Literal["cpt", "rpo"]


@dataclass
class LoraSettings:
    """The LoRA adapter trained on top of the (4-bit on GPUs) base weights."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    # "all-linear" = every linear layer but the LM head, PEFT's QLoRA default
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    # Fully trained (not low-rank) modules, e.g. ["embed_tokens", "lm_head"] for a randomly initialised tiny model
    modules_to_save: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        require(self.r > 0, f"lora.r must be > 0, got {self.r}")
        require(self.alpha > 0, f"lora.alpha must be > 0, got {self.alpha}")
        require(0.0 <= self.dropout < 1.0, f"lora.dropout must be in [0, 1), got {self.dropout}")
        require(bool(self.target_modules), "lora.target_modules must name at least one module (or 'all-linear')")


@dataclass
class TrainSection:
    """Fields shared by CPT and RPO; the names map one-to-one onto transformers/TRL training arguments."""

    data: str = ""
    output_dir: str = "runs/train"
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs when set
    learning_rate: float = 1e-4
    lr_scheduler: Scheduler = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    per_device_batch_size: int = 1
    gradient_accumulation: int = 1
    max_length: int = 2048
    lora: LoraSettings = field(default_factory=LoraSettings)
    full_finetune: bool = False  # train every weight instead of a LoRA adapter (tiny demo models; never with nf4)
    quantization: Quantization = "auto"  # auto: 4-bit NF4 when CUDA is available, plain weights on CPU
    precision: Precision = "auto"  # auto: bf16 on GPUs that support it, fp32 elsewhere
    gradient_checkpointing: bool = True
    eval_steps: int | None = None  # None: evaluate at the end of each epoch
    save_steps: int = 200
    save_total_limit: int | None = 2
    logging_steps: int = 10
    seed: int = 42
    allow_leakage: str | None = None  # a reason: train on inputs without a passing leakage verdict (goes in the card)
    use_cpu: bool = False
    # Processes (GPUs) the recipe is sized for: printed in the launch line of --dry-run and compared with the launch
    num_processes: int = 1

    def __post_init__(self) -> None:
        require(bool(self.output_dir.strip()), "output_dir must not be empty")
        require(self.epochs > 0, f"epochs must be > 0, got {self.epochs}")
        require(self.max_steps is None or self.max_steps > 0, f"max_steps must be > 0, got {self.max_steps}")
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(0.0 <= self.warmup_ratio < 1.0, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        require(self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        require(self.per_device_batch_size >= 1, "per_device_batch_size must be >= 1")
        require(self.gradient_accumulation >= 1, "gradient_accumulation must be >= 1")
        require(self.max_length >= 16, f"max_length must be >= 16, got {self.max_length}")
        require(self.eval_steps is None or self.eval_steps >= 1, "eval_steps must be >= 1 (or unset: each epoch)")
        require(self.save_steps >= 1, "save_steps must be >= 1")
        require(self.save_total_limit is None or self.save_total_limit >= 1, "save_total_limit must be >= 1")
        require(self.logging_steps >= 1, "logging_steps must be >= 1")
        require(self.num_processes >= 1, "num_processes must be >= 1")
        require(
            self.allow_leakage is None or bool(self.allow_leakage.strip()),
            "allow_leakage needs a reason (it is written into the model card)",
        )
        require(
            not (self.full_finetune and self.quantization == "nf4"),
            "full_finetune cannot train 4-bit weights: set quantization = \"none\" (or \"auto\") or use LoRA",
        )


@dataclass
class CPTConfig(TrainSection):
    """Continued pretraining: packed documents, loss on every token, AdamW with a cosine schedule and warmup."""

    output_dir: str = "runs/cpt"
    epochs: float = 2.0
    text_corpora: list[str] = field(default_factory=list)  # files / folders / hf:// datasets with a `text` column
    corpus_store: str | None = None  # where NAME@TAG corpus refs are looked up (None: $MEDPREFS_STORE or ./corpora)
    # bfd_split: padding-free best-fit packing, long documents split (no token dropped; positions restart per document)
    # wrapped: documents concatenated and cut every max_length tokens (attention crosses EOS boundaries)
    packing_strategy: Literal["bfd_split", "wrapped"] = "bfd_split"
    eval_fraction: float = 0.05  # documents held out for the evaluation loss

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0.0 <= self.eval_fraction < 0.5, f"eval_fraction must be in [0, 0.5), got {self.eval_fraction}")


@dataclass
class RPOConfig(TrainSection):
    """RPO: TRL's DPO loss plus alpha times the NLL of the chosen answer, starting from (and referenced to) CPT."""

    output_dir: str = "runs/rpo"
    learning_rate: float = 5e-6
    max_length: int = 4096
    cpt_adapter: str | None = None  # the CPT output folder; None: start from the base model (the rpo-only ablation)
    alpha: float = 10.0  # 0 = plain DPO
    beta: float = 0.1
    precompute_ref_log_probs: bool = False
    # token: TRL's NLL (token mean pooled over the micro-batch); sequence: Pang et al. (mean of per-sequence means)
    nll_normalisation: Literal["token", "sequence"] = "token"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.alpha >= 0, f"alpha must be >= 0, got {self.alpha}")
        require(self.beta > 0, f"beta must be > 0, got {self.beta}")


@dataclass(frozen=True)
class ModelRef:
    """The `[model]` section's base checkpoint (Hub id or local folder) and optional pinned revision."""

    base: str
    revision: str | None = None


SECTIONS: dict[str, type[TrainSection]] = {"cpt": CPTConfig, "rpo": RPOConfig}
# The tables of a pipeline file (docs/architecture.md); `--set` keys starting with one of them are absolute
PIPELINE_SECTIONS = {"model", "corpus", "leakage", "sample", "pairs", "publish", "cpt", "rpo", "eval"}
MODEL_KEYS = {"base", "revision", "tiny"}  # the [model] table (medprefs.pipeline.config.ModelSection)


def load_train_config(
    path: str | Path, section: Section, overrides: list[str] | tuple[str, ...] = ()
) -> tuple[CPTConfig | RPOConfig, ModelRef]:
    """Read a pipeline file's `[cpt]` or `[rpo]` table (and `[model]`), with `--set` overrides applied first.

    An override whose first key is not a pipeline section names a key of `section`: `max_steps=10` and
    `lora.r=8` mean `cpt.max_steps=10` and `cpt.lora.r=8` under `medprefs train cpt`."""
    data = read_toml(path)
    data = apply_overrides(data, [_qualify(item, section, set(data)) for item in overrides])
    return section_from_dict(data, section, where=str(path))


def section_from_dict(data: dict[str, Any], section: Section, where: str = "pipeline") -> tuple[Any, ModelRef]:
    """Build (config, model) from an already parsed pipeline dict (the pipeline runner's entry point)."""
    if section not in SECTIONS:
        raise MedprefsError(f"unknown training section {section!r}; expected cpt or rpo")
    if section not in data:
        raise MedprefsError(f"{where}: no [{section}] table")
    return from_dict(SECTIONS[section], data[section], f"{where} [{section}]"), model_ref(data, where)


def model_ref(data: dict[str, Any], where: str = "pipeline") -> ModelRef:
    """The `[model]` table's `base` and `revision` (other keys there belong to other stages and are left alone)."""
    model = data.get("model")
    if isinstance(model, dict) and "tiny" in model and "base" not in model:
        raise MedprefsError(f"{where}: [model.tiny] is built by `medprefs run`; `medprefs train` needs [model] base = "
                            "\"ORG/NAME\" or a model folder (e.g. --set model.base=runs/demo/model)")
    if not isinstance(model, dict) or not isinstance(model.get("base"), str) or not model["base"].strip():
        raise MedprefsError(f"{where}: [model] must set base = \"ORG/NAME\" or a local model folder")
    # a misspelt `revision` would otherwise train on the unpinned base without a word
    unknown = sorted(set(model) - MODEL_KEYS)
    if unknown:
        raise MedprefsError(f"{where}: [model] unknown key(s) {', '.join(unknown)}; allowed: "
                            f"{', '.join(sorted(MODEL_KEYS))}")
    revision = model.get("revision")
    if revision is not None and not isinstance(revision, str):
        raise MedprefsError(f"{where}: [model] revision must be a string, got {revision!r}")
    return ModelRef(base=model["base"], revision=revision)


def _qualify(assignment: str, section: str, tables: set[str]) -> str:
    first = assignment.split("=", 1)[0].split(".", 1)[0].strip()
    return assignment if first in PIPELINE_SECTIONS | tables else f"{section}.{assignment}"
