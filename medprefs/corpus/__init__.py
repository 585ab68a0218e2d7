"""Corpus stage: ingest exam questions from IgakuQA/JSONL/CSV/Parquet, reject bad rows loudly, store content-hashed versions."""

from medprefs.corpus.collector import Reject
from medprefs.corpus.examine import CorpusDiff, VersionCheck, diff_versions, verify_store, verify_version
from medprefs.corpus.ingest import IngestConfig, IngestOutcome, ingest, load_questions_any
from medprefs.corpus.question import QUESTION_SCHEMA, Question
from medprefs.corpus.reading import IngestResult, InputFile, read_questions
from medprefs.corpus.store import CorpusStore, CorpusVersion, default_store, load_corpus
from medprefs.corpus.versions import SavedVersion, content_identity, store_derived_version

__all__ = [
    "QUESTION_SCHEMA",
    "CorpusDiff",
    "CorpusStore",
    "CorpusVersion",
    "IngestConfig",
    "IngestOutcome",
    "IngestResult",
    "InputFile",
    "Question",
    "Reject",
    "SavedVersion",
    "VersionCheck",
    "content_identity",
    "default_store",
    "diff_versions",
    "ingest",
    "load_corpus",
    "load_questions_any",
    "read_questions",
    "store_derived_version",
    "verify_store",
    "verify_version",
]
