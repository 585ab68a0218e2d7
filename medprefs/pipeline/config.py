"""A pipeline file: one config dataclass per stage section, composed and validated together."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medprefs.config import apply_overrides, from_dict, read_toml
from medprefs.corpus import IngestConfig
from medprefs.errors import require
from medprefs.eval import EvalConfig
from medprefs.hub import PublishConfig
from medprefs.leakage import LeakageConfig
from medprefs.pairs import PairsConfig
from medprefs.sampling import SampleConfig
from medprefs.tinymodel import TinyModelConfig
from medprefs.train import CPTConfig, RPOConfig


@dataclass
class ModelSection:
    """The base model: a Hub id or local folder (`base`), or a tiny Qwen2 built from a config (`tiny`, the demo)."""

    base: str | None = None
    revision: str | None = None
    tiny: TinyModelConfig | None = None

    def __post_init__(self) -> None:
        require((self.base is None) != (self.tiny is None), "[model]: set exactly one of base = \"...\" or [model.tiny]")


@dataclass
class PipelineConfig:
    """Every section of a pipeline file; `stages` limits a run to some of them (e.g. the ablations)."""

    model: ModelSection
    corpus: IngestConfig = field(default_factory=IngestConfig)
    leakage: LeakageConfig = field(default_factory=LeakageConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    publish: PublishConfig = field(default_factory=lambda: PublishConfig(to_dir="release"))
    cpt: CPTConfig = field(default_factory=CPTConfig)
    rpo: RPOConfig = field(default_factory=RPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    stages: list[str] = field(default_factory=list)  # empty: every stage
    description: str = ""

    def __post_init__(self) -> None:
        from medprefs.pipeline.runner import STAGES

        unknown = sorted(set(self.stages) - set(STAGES))
        require(not unknown, f"stages: unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")

    def runs(self, stage: str) -> bool:
        return not self.stages or stage in self.stages


def load_pipeline(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> PipelineConfig:
    """Read and validate a pipeline file, `--set section.key=value` overrides applied first."""
    data: dict[str, Any] = apply_overrides(read_toml(path), list(overrides))
    require("model" in data, f"{path}: a pipeline needs a [model] table")
    return from_dict(PipelineConfig, data, str(path))
