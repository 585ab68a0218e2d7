"""Leakage guard: prove no evaluation question reaches training, by exam year and by near-duplicate content."""

from medprefs.leakage.config import JMLE_BOILERPLATE, LeakageConfig
from medprefs.leakage.filter import FilteredCorpus, filter_corpus
from medprefs.leakage.findings import Finding
from medprefs.leakage.gate import require_passing, version_gate
from medprefs.leakage.items import Passage, read_passages
from medprefs.leakage.normalize import leak_key
from medprefs.leakage.report import LeakageReport, ReportPaths
from medprefs.leakage.scan import evaluation_side, scan, split_by_year
from medprefs.leakage.store import FilterOutcome, filter_and_store

__all__ = [
    "JMLE_BOILERPLATE",
    "FilteredCorpus",
    "FilterOutcome",
    "Finding",
    "LeakageConfig",
    "LeakageReport",
    "Passage",
    "ReportPaths",
    "evaluation_side",
    "filter_and_store",
    "filter_corpus",
    "leak_key",
    "read_passages",
    "require_passing",
    "scan",
    "split_by_year",
    "version_gate",
]
