"""The evaluation-side index: the informative n-grams of every eval question, their postings and a bitmap pre-filter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medprefs.corpus.question import Question
from medprefs.leakage.config import LeakageConfig
from medprefs.leakage.ngrams import bucket, distinct, distinct_counts, member, segment_grams
from medprefs.leakage.normalize import fold_segments

BITMAP_BITS = 23  # 8 MiB of flags; with ~300k eval n-grams about 4% of random n-grams reach the exact check
SLOT_SHIFT = 1  # the key table has 2**(BITMAP_BITS - SLOT_SHIFT) int32 slots (16 MiB), addressed by the same bucket


def question_segments(question: Question, with_explanation: bool = False) -> list[str]:
    """The parts n-grams are taken within: stem and each choice apart, so choice order cannot matter."""
    parts = [question.stem, *question.choices]
    if with_explanation and question.explanation:
        parts.append(question.explanation)
    return parts


def unique_grams(segments: list[str], n: int) -> np.ndarray:
    """Sorted distinct n-gram hashes of some segments of text."""
    codes, lengths = fold_segments(segments)
    hashes, _ = segment_grams(codes, lengths, n)
    return distinct(hashes)


def boilerplate_phrase_grams(phrases: list[str], n: int) -> np.ndarray:
    """The n-grams of stock phrases; a space in a phrase is a gap no n-gram spans, and no short-segment grams."""
    pieces = [piece for phrase in phrases for piece in phrase.split()]
    codes, lengths = fold_segments(pieces)
    hashes, segment = segment_grams(codes, lengths, n)
    return distinct(hashes[lengths[segment] >= n])


def _pairs(questions: list[Question], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (n-gram, item) pairs of all eval items, sorted by n-gram then item."""
    parts = [question_segments(q) for q in questions]
    owner = np.repeat(np.arange(len(parts), dtype=np.int64), [len(p) for p in parts])
    codes, lengths = fold_segments([text for part in parts for text in part])
    hashes, segment = segment_grams(codes, lengths, n)
    items = owner[segment]
    order = np.lexsort((items, hashes))
    hashes, items = hashes[order], items[order]
    first = np.concatenate(([True], (hashes[1:] != hashes[:-1]) | (items[1:] != items[:-1]))) if len(hashes) else []
    return hashes[first], items[first]


def _split_by_item(hashes: np.ndarray, items: np.ndarray, count: int) -> list[np.ndarray]:
    order = np.lexsort((hashes, items))
    bounds = np.searchsorted(items[order], np.arange(count + 1))
    ordered = hashes[order]
    return [ordered[bounds[i] : bounds[i + 1]] for i in range(count)]


def _slot_table(slots: np.ndarray, bits: int) -> np.ndarray:
    """Direct lookup from a gram's slot to its key index (+1); -1 marks a slot shared by several keys."""
    table = np.zeros(1 << bits, dtype=np.int32)
    table[slots] = np.arange(1, len(slots) + 1, dtype=np.int32)
    occupancy = np.bincount(slots, minlength=1 << bits)
    table[occupancy > 1] = -1
    return table


@dataclass
class EvalIndex:
    """What a training text is compared against. Gram `keys[k]` occurs in items `items[starts[k]:starts[k+1]]`."""

    qids: list[str]
    ngram: int
    keys: np.ndarray  # uint64, sorted: informative n-grams of the eval set
    starts: np.ndarray  # int64, len(keys) + 1
    items: np.ndarray  # int64 eval item indices
    sizes: np.ndarray  # int64: informative n-grams per eval item (the containment denominator)
    boilerplate: np.ndarray  # uint64, sorted: n-grams that never count
    bitmap: np.ndarray  # bool[2**BITMAP_BITS] over bucket(low 32 bits of keys)
    slots: np.ndarray  # int32 per bucket >> SLOT_SHIFT: key index + 1, 0 when empty, -1 when keys collide there
    item_keys: list[np.ndarray]  # sorted informative n-grams of each eval item

    @classmethod
    def build(cls, questions: list[Question], config: LeakageConfig) -> EvalIndex:
        n = config.ngram
        hashes, items = _pairs(questions, n)
        grams, frequency = distinct_counts(hashes)
        limit = max(config.boilerplate_min_items, int(np.ceil(config.boilerplate_fraction * len(questions))))
        frequent = grams[frequency >= limit] if len(questions) >= limit else grams[:0]
        boilerplate = distinct(np.concatenate((frequent, boilerplate_phrase_grams(config.boilerplate_phrases, n))))
        informative = ~member(hashes, boilerplate)
        hashes, items = hashes[informative], items[informative]
        keys, key_count = distinct_counts(hashes)
        buckets = bucket((keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), BITMAP_BITS)
        bitmap = np.zeros(1 << BITMAP_BITS, dtype=np.bool_)
        bitmap[buckets] = True
        return cls(
            qids=[q.qid for q in questions],
            ngram=n,
            keys=keys,
            starts=np.concatenate(([0], np.cumsum(key_count))).astype(np.int64),
            items=items,
            sizes=np.bincount(items, minlength=len(questions)).astype(np.int64),
            boilerplate=boilerplate,
            bitmap=bitmap,
            slots=_slot_table(buckets >> SLOT_SHIFT, BITMAP_BITS - SLOT_SHIFT),
            item_keys=_split_by_item(hashes, items, len(questions)),
        )

    def informative(self, hashes: np.ndarray) -> np.ndarray:
        """The hashes that are not boilerplate."""
        return hashes[~member(hashes, self.boilerplate)]
