"""Ranker inputs: user ⊕ video ⊕ context ⊕ two-tower score ⊕ cross features, one float row each.

One implementation serves training and serving. Training calls it with point-in-time inputs
(histories and engagement counts from events strictly before each impression; for data
without time, every *other* event — leave-one-out); serving calls it with the latest ones.

Row layout (``n_inputs(dim)`` floats): tower score, ``u ⊙ v`` (dim), ``v`` (dim), video
(log age, age known, duration bucket / 8, 6 engagement aggregates), user (log history
length, mean dwell), context (sin/cos hour, sin/cos weekday, time known), cross (dwell-weighted
creator affinity, log same-creator count, dwell-weighted tag affinity). History length is the
number of events in the window, so training and serving read the same quantity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelrec.features.definitions import VideoArrays, context_of
from reelrec.features.history import HistoryWindow, InteractionLog
from reelrec.ranking.cross import cross_features
from reelrec.ranking.rows import fill_rows
from reelrec.types import Idx

COUNT_COLUMNS = ("impressions", "ratio_known", "ratio_sum", "likes", "completes", "share_follows")
N_EXTRA = 1 + 9 + 2 + 5 + 3
SMOOTHING = 10.0  # pseudo-impressions of the global prior in every engagement rate


def n_inputs(dim: int) -> int:
    """Width of one ranker input row for towers of dimension ``dim``."""
    return 2 * dim + N_EXTRA


def stats_features(counts: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """``[n, 6]`` engagement aggregates from ``[n, 6]`` counts (``COUNT_COLUMNS``).

    Rates are smoothed towards the global ``prior`` rates ``[4]`` (ratio, like, complete,
    share/follow) with ``SMOOTHING`` pseudo-impressions, so a video with few impressions reads
    as average rather than as 0 or 1.
    """
    n, known = counts[:, 0], counts[:, 1]
    m = SMOOTHING
    ratio = (counts[:, 2] + m * prior[0]) / (known + m)
    rates = (counts[:, 3:6] + m * prior[1:4]) / (n[:, None] + m)
    return np.column_stack([np.log1p(n), ratio, rates, np.log1p(counts[:, 3])]).astype(np.float32)


def prior_rates(totals: np.ndarray) -> np.ndarray:
    """Global ``[4]`` rates (mean watch ratio, like, complete, share/follow) from summed counts."""
    n, known = max(float(totals[0]), 1.0), max(float(totals[1]), 1.0)
    return np.array([totals[2] / known, *(totals[3:6] / n)], dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class CountTable:
    """Per-video engagement counts queryable at any time (point-in-time aggregates).

    Rows of the log are sorted by (video, time); ``cum`` is the running sum with a leading
    zero, so counts of video ``v`` before time ``t`` are two binary searches away.
    """

    keys: np.ndarray
    cum: np.ndarray
    times: np.ndarray
    n_videos: int

    @classmethod
    def build(cls, video: Idx, time: np.ndarray, values: np.ndarray, n_videos: int) -> CountTable:
        """Index ``values [n, 6]`` of log rows at ``video [n]`` and ``time [n]`` (NaN = unknown)."""
        safe_time = np.where(np.isnan(time), -np.inf, time)
        times = np.unique(safe_time)
        keys = video * (times.size + 1) + np.searchsorted(times, safe_time)
        order = np.argsort(keys, kind="stable")
        cum = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values[order], axis=0)])
        return cls(keys=keys[order], cum=cum, times=times, n_videos=n_videos)

    def before(self, video: Idx, time: np.ndarray) -> np.ndarray:
        """``[q, 6]`` counts of each video's rows strictly before ``time`` (inf = all rows)."""
        span = self.times.size + 1
        rank = np.searchsorted(self.times, time, side="left")
        start = np.searchsorted(self.keys, video * span, side="left")
        end = np.searchsorted(self.keys, video * span + rank, side="left")
        return np.asarray(self.cum[end] - self.cum[start])

    def totals(self) -> np.ndarray:
        """``[n_videos, 6]`` counts over every row."""
        ids = np.arange(self.n_videos, dtype=np.int64)
        return self.before(ids, np.full(self.n_videos, np.inf))


def windows_at(log: InteractionLog, users: Idx, times: np.ndarray, length: int) -> HistoryWindow:
    """Histories of ``users`` from played events strictly before ``times`` (NaN = all events)."""
    known = (users >= 0) & (users < log.user_start.shape[0])
    safe = np.where(known, users, 0)
    start = np.where(known, log.user_start[safe], 0)
    stop = np.where(known, log.user_end[safe], 0)
    end = stop.copy()
    timed = ~np.isnan(times) & known
    if log.has_time and timed.any():
        for_time = np.flatnonzero(timed)
        # Integer keys (user, rank of time) keep exact order where float keys would round.
        grid = np.unique(np.concatenate([log.h_time, times[for_time]]))
        key_h = (log.h_user << 32) | np.searchsorted(grid, log.h_time)
        key_q = (users[for_time] << 32) | np.searchsorted(grid, times[for_time])
        end[for_time] = np.searchsorted(key_h, key_q, side="left")
    end = np.clip(end, start, stop)
    begin = np.maximum(start, end - length)
    offsets = end[:, None] - length + np.arange(length)[None, :]
    valid = known[:, None] & (offsets >= begin[:, None])
    if log.h_video.size == 0:
        valid[:] = False
    safe_off = np.where(valid, offsets, 0)
    video = np.where(valid, log.h_video[safe_off] if log.h_video.size else -1, -1)
    dwell = np.where(valid, log.h_dwell[safe_off] if log.h_video.size else 0.0, 0.0)
    liked = np.where(valid, log.h_liked[safe_off] if log.h_video.size else 0.0, 0.0)
    return HistoryWindow(
        video=video.astype(np.int64),
        dwell=dwell.astype(np.float32),
        liked=liked.astype(np.float32),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RankerInputs:
    """Everything ``build_inputs`` needs, per distinct user ``[U, …]`` and per row ``[R, …]``."""

    user_vec: np.ndarray
    window: HistoryWindow
    at_seconds: np.ndarray
    row_user: Idx
    cand: Idx
    item_vec: np.ndarray
    stats: np.ndarray


def build_inputs(x: RankerInputs, catalog: VideoArrays, n_tags: int) -> np.ndarray:
    """``[R, n_inputs(dim)]`` float32 ranker rows (the one assembly for training and serving).

    Per-user parts (history length, mean dwell, context) are computed once per user and
    gathered; columns are written into one preallocated array.
    """
    rows, dim = len(x.cand), x.item_vec.shape[1]
    out = np.empty((rows, n_inputs(dim)), np.float32)
    dwell = x.window.dwell
    valid = x.window.video >= 0
    n_valid = valid.sum(axis=1)
    hour, weekday = context_of(x.at_seconds)
    time_known = hour < 24
    per_user = np.column_stack(
        [
            np.log1p(n_valid),
            (dwell * valid).sum(axis=1) / np.maximum(n_valid, 1),
            np.where(time_known, np.sin(2 * np.pi * hour / 24), 0.0),
            np.where(time_known, np.cos(2 * np.pi * hour / 24), 0.0),
            np.where(time_known, np.sin(2 * np.pi * weekday / 7), 0.0),
            np.where(time_known, np.cos(2 * np.pi * weekday / 7), 0.0),
            time_known,
        ]
    )
    fill_rows(out, x, catalog, per_user)
    c = 1 + 2 * dim
    window, tags = x.window, catalog.tags
    out[:, c + 16 :] = cross_features(
        window.video, window.dwell, x.row_user, x.cand, catalog.creator_idx, tags, n_tags
    )
    return out


__all__ = [
    "COUNT_COLUMNS",
    "CountTable",
    "RankerInputs",
    "build_inputs",
    "n_inputs",
    "prior_rates",
    "stats_features",
    "windows_at",
]
