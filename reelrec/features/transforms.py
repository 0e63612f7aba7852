"""Small feature transforms: bucketing, text hashing, dwell and engagement weights."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from reelrec.features.vocab import stable_hash
from reelrec.types import Idx

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def bucketize(values: np.ndarray, edges: Sequence[float]) -> Idx:
    """Bucket index 1..len(edges)+1 for each value; 0 for missing (NaN)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left") + 1
    return np.where(np.isnan(values), 0, out).astype(np.int64)


def text_tokens(text: str | None, buckets: int, max_tokens: int, char_n: int = 3) -> list[int]:
    """Hash a title into word and character n-gram buckets (1..buckets; 0 is padding).

    Character n-grams of ``#word#`` make misspellings and inflections share buckets.
    """
    if not text:
        return []
    tokens: list[str] = []
    for word in _WORD.findall(text.lower()):
        tokens.append("w:" + word)
        padded = f"#{word}#"
        tokens.extend(
            "c:" + padded[i : i + char_n] for i in range(max(len(padded) - char_n + 1, 1))
        )
    unique = list(dict.fromkeys(tokens))[:max_tokens]
    return [1 + stable_hash(t) % buckets for t in unique]


def dwell_weight(watch_ratio: np.ndarray) -> np.ndarray:
    """Dwell feature of a watched video: log1p of the watch ratio capped at 3 (rewatches)."""
    ratio = np.nan_to_num(np.asarray(watch_ratio, dtype=np.float32), nan=1.0)
    return np.log1p(np.clip(ratio, 0.0, 3.0)).astype(np.float32)


def engagement_weight(
    watch_ratio: np.ndarray,
    liked: np.ndarray,
    shared: np.ndarray,
    rating: np.ndarray | None = None,
) -> np.ndarray:
    """Positive example weight: 1 + dwell + 0.5 per like/share (+ rating above 3, scaled).

    Weights are later normalised by their batch sum, so only their ratios matter.
    """
    weight = 1.0 + dwell_weight(watch_ratio)
    weight = weight + 0.5 * np.asarray(liked, np.float32) + 0.5 * np.asarray(shared, np.float32)
    if rating is not None:
        weight = weight + 0.25 * np.clip(np.nan_to_num(rating, nan=3.0) - 3.0, 0.0, None)
    out: np.ndarray = weight.astype(np.float32)
    return out


def pad_ragged(rows: Sequence[Sequence[int]], width: int, fill: int = 0) -> Idx:
    """Pack lists of ints into a ``[n, width]`` int64 array, truncating and padding."""
    out = np.full((len(rows), max(width, 1)), fill, dtype=np.int64)
    for i, row in enumerate(rows):
        row = list(row)[:width]
        out[i, : len(row)] = row
    return out


def pack_rows(row: np.ndarray, values: np.ndarray, n_rows: int, width: int, fill: int = 0) -> Idx:
    """Vectorised ``pad_ragged`` for (row, value) pairs sorted by row: ``[n_rows, width]``."""
    out = np.full((n_rows, max(width, 1)), fill, dtype=np.int64)
    row = np.asarray(row, dtype=np.int64)
    if row.size == 0:
        return out
    starts = np.r_[0, np.flatnonzero(np.diff(row)) + 1]
    lengths = np.diff(np.r_[starts, row.size])
    position = np.arange(row.size) - np.repeat(starts, lengths)
    keep = position < width
    out[row[keep], position[keep]] = np.asarray(values)[keep]
    return out
