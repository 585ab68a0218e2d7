"""Character n-gram hashes over key code points: 64-bit polynomial hashes, their low 32 bits for the fast pre-filter."""

from __future__ import annotations

import numpy as np

BASE64 = np.uint64(0x100000001B3)  # odd, so the polynomial hash mod 2**32 is its low 32 bits with BASE32
BASE32 = np.uint32(int(BASE64) & 0xFFFFFFFF)
PAD = 0x110000  # beyond Unicode: pads a short segment (a 2-character choice) into one whole-segment gram
_MIX32 = np.uint32(0x9E3779B1)  # Fibonacci hashing: the top bits of h * MIX spread the low bits of a gram hash


def rolling_hashes(codes: np.ndarray, n: int, dtype: type = np.uint64) -> np.ndarray:
    """Hash of every window of n code points (Horner's rule, wrapping arithmetic); len(codes) - n + 1 values."""
    count = len(codes) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=dtype)
    base = BASE64 if dtype is np.uint64 else BASE32
    codes = codes.astype(dtype, copy=False)
    if n == 1:
        return codes.copy()
    hashes = codes[:count] * base
    for offset in range(1, n - 1):
        hashes += codes[offset : offset + count]
        hashes *= base
    hashes += codes[n - 1 : n - 1 + count]
    return hashes


def hashes_at(codes: np.ndarray, positions: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of the n-grams starting at `positions` only (the exact check after the pre-filter)."""
    hashes = np.zeros(len(positions), dtype=np.uint64)
    for offset in range(n):
        hashes *= BASE64
        hashes += codes[positions + offset].astype(np.uint64)
    return hashes


def bucket(hashes32: np.ndarray, bits: int) -> np.ndarray:
    """Pre-filter bucket of 32-bit hashes (the low 32 bits of the 64-bit ones)."""
    return (hashes32 * _MIX32) >> np.uint32(32 - bits)


def padded_hashes(codes: np.ndarray, starts: np.ndarray, lengths: np.ndarray, n: int) -> np.ndarray:
    """One gram per short segment (0 < length < n): its code points padded with PAD to n."""
    windows = np.full((len(starts), n), PAD, dtype=np.uint64)
    rows = np.repeat(np.arange(len(starts)), lengths)
    columns = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    windows[rows, columns] = codes[np.repeat(starts, lengths) + columns]
    hashes = np.zeros(len(starts), dtype=np.uint64)
    for column in range(n):
        hashes *= BASE64
        hashes += windows[:, column]
    return hashes


def segment_grams(codes: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """All grams of each segment, none crossing a boundary -> (64-bit hashes, segment index of each gram).

    A segment shorter than n yields one padded gram, so a two-character choice still counts as content.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    hashes = rolling_hashes(codes, n)
    segment_of = np.repeat(np.arange(len(lengths)), lengths)[: len(hashes)]
    ends = starts + lengths
    inside = np.arange(len(hashes)) + n <= ends[segment_of] if len(hashes) else np.zeros(0, dtype=bool)
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    padded = padded_hashes(codes, starts[short], lengths[short], n)
    return np.concatenate((hashes[inside], padded)), np.concatenate((segment_of[inside], short))


def distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values. (np.unique takes a hash-table path in numpy 2.x that is ~20x slower on int arrays.)"""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def distinct_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and how often each occurs."""
    ordered = np.sort(values)
    if not len(ordered):
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """values[i] in sorted_set, by binary search."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    where = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[where] == values
