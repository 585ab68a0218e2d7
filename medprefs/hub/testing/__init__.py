"""Test helpers: a local Hub-compatible server and small dataset folders (usable from any test suite)."""

from medprefs.hub.testing.fixtures import leakage_record, write_corpus_version, write_pairs_dataset
from medprefs.hub.testing.server import LocalHub

__all__ = ["LocalHub", "leakage_record", "write_corpus_version", "write_pairs_dataset"]
