"""Filter mode: the training material minus every flagged item, with the dropped items and their reasons kept."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from medprefs.corpus.question import Question, questions_to_frame
from medprefs.errors import MedprefsError
from medprefs.leakage.findings import Finding
from medprefs.leakage.items import Passage, TrainItem, TrainSet, item_id
from medprefs.leakage.report import LeakageReport


def reason(finding: Finding) -> str:
    """One line a person reads: why this item left the corpus."""
    if finding.eval_qid is None:
        return f"{finding.rule}: {finding.detail}"
    return (
        f"{finding.rule} of {finding.eval_qid} (similarity {finding.similarity:.3f}, {finding.shared_ngrams} n-grams)"
    )


@dataclass(frozen=True)
class FilteredCorpus:
    """`kept + dropped` is the input, in input order within each; every dropped item has at least one reason."""

    kept: list[TrainItem]
    dropped: list[TrainItem]
    reasons: dict[str, list[str]]  # item id -> reasons
    report_sha256: str

    def dropped_frame(self) -> pl.DataFrame:
        """Dropped items (full question rows, or passage id/text/year) with `leakage_reasons` and the report hash."""
        ids = [item_id(item) for item in self.dropped]
        if self.dropped and all(isinstance(item, Question) for item in self.dropped):
            frame = questions_to_frame(self.dropped)  # type: ignore[arg-type]
        else:
            frame = pl.DataFrame(
                {
                    "qid": ids,
                    "text": [getattr(item, "text", "") or getattr(item, "stem", "") for item in self.dropped],
                    "year": [item.year for item in self.dropped],
                },
                schema={"qid": pl.String(), "text": pl.String(), "year": pl.Int64()},
            )
        return frame.with_columns(
            pl.Series("leakage_reasons", [self.reasons[i] for i in ids], dtype=pl.List(pl.String())),
            pl.lit(self.report_sha256).alias("leakage_report_sha256"),
        )


def filter_corpus(train: Sequence[Question | Passage | str], report: LeakageReport) -> FilteredCorpus:
    """Split `train` (the material `report` was made from) into kept and dropped items."""
    items = TrainSet(train).items()
    reasons: dict[str, list[str]] = defaultdict(list)
    for finding in report.flagged:
        reasons[finding.train_qid].append(reason(finding))
    known = {item_id(item) for item in items}
    unknown = sorted(set(reasons) - known)
    if unknown:
        raise MedprefsError(f"the report flags {unknown[:3]} which are not in this corpus: filter with its own report")
    if report.counts.get("train_items") != len(items):
        raise MedprefsError("the report was made from a different number of training items: rescan before filtering")
    kept = [item for item in items if item_id(item) not in reasons]
    dropped = [item for item in items if item_id(item) in reasons]
    return FilteredCorpus(kept, dropped, dict(reasons), report.report_sha256)
