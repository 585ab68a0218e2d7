"""Hub publishing and lineage: releases with cards and revisions, pulled back by revision, adapters' model cards."""

from medprefs.hub.cards import render_dataset_card, render_model_card
from medprefs.hub.config import PublishConfig
from medprefs.hub.publish import PublishResult, publish
from medprefs.hub.resolve import ResolvedDataset, lineage_entry, parse_hub_ref, resolve_dataset

__all__ = [
    "PublishConfig",
    "PublishResult",
    "ResolvedDataset",
    "lineage_entry",
    "parse_hub_ref",
    "publish",
    "render_dataset_card",
    "render_model_card",
    "resolve_dataset",
]
