"""Pipeline runner: the stages of a `pipelines/*.toml` file in order, each recorded in OUT/summary.json."""

from medprefs.pipeline.config import ModelSection, PipelineConfig, load_pipeline
from medprefs.pipeline.runner import RUN_ORDER, STAGES, PipelineSummary, run_pipeline

__all__ = ["RUN_ORDER", "STAGES", "ModelSection", "PipelineConfig", "PipelineSummary", "load_pipeline", "run_pipeline"]
