"""The `[leakage]` pipeline section: the year cut-off, the evaluation years and the near-duplicate thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field

from medprefs.errors import require

# The paper's split: training material from exams up to 2017, IgakuQA (JMLE 2018-2022) for evaluation. A later
# cut-off puts IgakuQA years on the training side; the gate lets such a result through only with a recorded reason.
PAPER_CUTOFF_YEAR = 2017
IGAKUQA_YEARS = (2018, 2019, 2020, 2021, 2022)

# Stock JMLE phrasing. Their n-grams say nothing about which question a text is, so they never count as shared
# content (n-grams frequent inside the evaluation set itself are dropped the same way, see `boilerplate_fraction`).
# A space marks a gap where question-specific text (a number) goes: no n-gram spans it.
JMLE_BOILERPLATE = [
    "正しいのはどれか。",
    "誤っているのはどれか。",
    "適切なのはどれか。",
    "適切でないのはどれか。",
    "最も適切なのはどれか。",
    "考えられるのはどれか。",
    "最も考えられるのはどれか。",
    "まず行うべきなのはどれか。",
    "次に行うべき検査はどれか。",
    "誤りはどれか。",
    "2つ選べ。",
    "3つ選べ。",
    "を主訴に来院した。",
    "を主訴に受診した。",
    "歳の男性。",
    "歳の女性。",
    "意識は清明。",
    "脈拍 /分、整。",
    "血圧 / mmHg。",
    "呼吸数 /分。",
    "体温 ℃。",
    "既往歴に特記すべきことはない。",
    "家族歴に特記すべきことはない。",
    "眼瞼結膜と眼球結膜とに異常を認めない。",
    "心音と呼吸音とに異常を認めない。",
    "腹部は平坦、軟で、肝・脾を触知しない。",
    "血液所見：赤血球 万、Hb g/dL、Ht %、白血球 、血小板 万。",
    "血液生化学所見：総蛋白 g/dL、アルブミン g/dL、総ビリルビン mg/dL、AST U/L、ALT U/L、LD U/L（基準 ）、"
    "尿素窒素 mg/dL、クレアチニン mg/dL、血糖 mg/dL。",
    "免疫血清学所見：CRP mg/dL。",
    "尿所見：蛋白 、糖 、潜血 。",
    "写真を別に示す。",
]


@dataclass
class LeakageConfig:
    """How training material is checked against the evaluation set.

    An evaluation item is leaked into a training item when, on folded text (NFKC, width, case, punctuation and
    whitespace removed), their character n-gram sets are near-duplicates (Jaccard >= `threshold`; stem plus
    choices as a set) or the training text holds most of the evaluation item (containment >= `containment_threshold`
    with at least `min_shared_ngrams` shared n-grams). Either way, when the eval stem is distinctive, at least
    `stem_threshold` of its characters must lie inside n-grams the training text shares: the same five diagnoses
    under a different vignette are a different question. Boilerplate n-grams count on neither side.
    """

    cutoff_year: int = PAPER_CUTOFF_YEAR
    eval_years: list[int] = field(default_factory=lambda: list(IGAKUQA_YEARS))
    ngram: int = 5
    threshold: float = 0.5
    containment_threshold: float = 0.5
    stem_threshold: float = 0.45
    min_shared_ngrams: int = 8
    boilerplate_fraction: float = 0.01  # an n-gram in at least this share of eval items is boilerplate...
    boilerplate_min_items: int = 5  # ...and in at least this many of them (small eval sets)
    boilerplate_phrases: list[str] = field(default_factory=lambda: list(JMLE_BOILERPLATE))
    workers: int = 0  # processes for large scans; 0 = one per CPU core
    batch_chars: int = 600_000  # characters per vectorised batch: big enough to amortise, small enough for cache
    max_report_pairs: int = 500  # pairs shown side by side in report.md/html (all of them are in report.json)

    def __post_init__(self) -> None:
        require(1900 <= self.cutoff_year <= 2100, f"leakage.cutoff_year: {self.cutoff_year} is not a plausible year")
        require(len(self.eval_years) > 0, "leakage.eval_years: at least one evaluation year is needed")
        early = sorted(year for year in self.eval_years if year <= self.cutoff_year)
        require(
            not early, f"leakage.eval_years: {early} not after cutoff_year {self.cutoff_year}; the split would leak"
        )
        require(2 <= self.ngram <= 16, f"leakage.ngram: {self.ngram} must be between 2 and 16 characters")
        for name in ("threshold", "containment_threshold", "stem_threshold"):
            value = getattr(self, name)
            require(0.0 < value <= 1.0, f"leakage.{name}: {value} must be in (0, 1]")
        require(self.min_shared_ngrams >= 1, "leakage.min_shared_ngrams must be at least 1")
        require(0.0 < self.boilerplate_fraction <= 1.0, "leakage.boilerplate_fraction must be in (0, 1]")
        require(self.boilerplate_min_items >= 2, "leakage.boilerplate_min_items must be at least 2")
        require(self.workers >= 0, "leakage.workers must be 0 (one per core) or more")
        require(self.batch_chars >= 10_000, "leakage.batch_chars must be at least 10000")
        require(self.max_report_pairs >= 0, "leakage.max_report_pairs must be 0 or more")
