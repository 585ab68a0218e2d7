"""Find the eval n-grams inside a batch of folded text: bitmap pre-filter, direct slot table, exact 64-bit check."""

from __future__ import annotations

import numpy as np

from medprefs.leakage.index import BITMAP_BITS, SLOT_SHIFT, EvalIndex
from medprefs.leakage.ngrams import bucket, hashes_at, padded_hashes, rolling_hashes


def _key_indices(index: EvalIndex, hashes: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """Key index of each hash, -1 where it is not an eval key."""
    if not len(index.keys):
        return np.full(len(hashes), -1, dtype=np.int64)
    slot = index.slots[buckets >> SLOT_SHIFT].astype(np.int64)
    keys = np.where(slot > 0, slot - 1, 0)
    found = np.where((slot > 0) & (index.keys[keys] == hashes), keys, -1)
    crowded = np.flatnonzero(slot < 0)  # several keys share the slot: binary search for these few
    if len(crowded):
        where = np.minimum(np.searchsorted(index.keys, hashes[crowded]), len(index.keys) - 1)
        found[crowded] = np.where(index.keys[where] == hashes[crowded], where, -1)
    return found


def find_hits(index: EvalIndex, codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(segment, key index) of every eval n-gram in the batch; n-grams never cross a segment boundary."""
    n = index.ngram
    ends = np.cumsum(lengths)
    buckets = bucket(rolling_hashes(codes, n, np.uint32), BITMAP_BITS)
    positions = np.flatnonzero(index.bitmap[buckets])
    segments = np.searchsorted(ends, positions, side="right")
    inside = positions + n <= ends[segments]
    positions, segments = positions[inside], segments[inside]
    hashes = hashes_at(codes, positions, n)
    keys = _key_indices(index, hashes, buckets[positions])
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    if len(short):  # whole-segment grams of short segments (a two-character choice)
        padded = padded_hashes(codes, (ends - lengths)[short], lengths[short], n)
        low = bucket((padded & np.uint64(0xFFFFFFFF)).astype(np.uint32), BITMAP_BITS)
        keys = np.concatenate((keys, _key_indices(index, padded, low)))
        segments = np.concatenate((segments, short))
    found = keys >= 0
    return segments[found], keys[found]
