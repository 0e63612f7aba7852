"""User histories: the videos each user watched, with dwell, known strictly before a time.

``InteractionLog`` holds one training log as arrays sorted by (user, time). Training examples
read the history *before* their own event (point-in-time correct; no future leakage); serving
reads the latest history. Data without timestamps uses "every other event of the user" instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from reelrec.config import DataConfig
from reelrec.data.signals import positive_expr, watch_ratio_expr
from reelrec.features.definitions import FeatureSpace
from reelrec.features.transforms import dwell_weight, engagement_weight
from reelrec.types import Idx


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryWindow:
    """A batch of histories: ``video [B, N]`` (-1 = pad), ``dwell [B, N]``, ``liked [B, N]``."""

    video: Idx
    dwell: np.ndarray
    liked: np.ndarray


@dataclass(slots=True, kw_only=True)
class InteractionLog:
    """A training log as sorted arrays; ``h_*`` arrays are the history-eligible (played) events.

    Attributes:
        has_time: whether times are real timestamps (else row order within the user).
        user_start / user_end: ``[n_users]`` slice of each user's block in the ``h_*`` arrays.
    """

    has_time: bool
    h_user: Idx
    h_video: Idx
    h_time: np.ndarray
    h_dwell: np.ndarray
    h_liked: np.ndarray
    user_start: Idx
    user_end: Idx
    ex_user: Idx
    ex_video: Idx
    ex_time: np.ndarray
    ex_weight: np.ndarray
    ex_hist_end: Idx

    @property
    def n_examples(self) -> int:
        """Number of positive training examples."""
        return int(self.ex_user.shape[0])

    @classmethod
    def build(
        cls, interactions: pl.DataFrame, space: FeatureSpace, data_cfg: DataConfig
    ) -> InteractionLog:
        """Sort, encode and index a log of interactions for the towers."""
        has_time = "timestamp" in interactions.columns
        cols = interactions.columns
        frame = interactions.with_row_index("__row").with_columns(
            watch_ratio_expr(cols), positive_expr(cols, data_cfg)
        )
        time = (
            pl.col("timestamp").dt.epoch("us").cast(pl.Float64) / 1e6
            if has_time
            else pl.col("__row").cast(pl.Float64)
        )
        frame = frame.with_columns(
            time.alias("__time"),
            pl.Series("__user", space.users.encode(frame.get_column("user_id"))),
            pl.Series("__video", space.videos.encode(frame.get_column("video_id"))),
        ).sort(["__user", "__time", "__row"])
        played = frame.filter(pl.col("watch_seconds").fill_null(1.0) > 0)
        h_user = played.get_column("__user").to_numpy().astype(np.int64)
        n_users = space.users.n_known
        starts = np.searchsorted(h_user, np.arange(n_users), side="left")
        ends = np.searchsorted(h_user, np.arange(n_users), side="right")
        h_time = played.get_column("__time").to_numpy()
        positives = frame.filter(pl.col("positive"))
        ex_user = positives.get_column("__user").to_numpy().astype(np.int64)
        ex_time = positives.get_column("__time").to_numpy()
        # History end: first played event of the user at or after the example's time.
        # Integer keys (user, rank of time) keep exact order where float keys would round.
        times = np.unique(np.concatenate([h_time, ex_time]))
        key_h = (h_user << 32) | np.searchsorted(times, h_time)
        key_e = (ex_user << 32) | np.searchsorted(times, ex_time)
        rating = positives.get_column("rating").to_numpy() if "rating" in cols else None
        return cls(
            has_time=has_time,
            h_user=h_user,
            h_video=played.get_column("__video").to_numpy().astype(np.int64),
            h_time=h_time,
            h_dwell=dwell_weight(played.get_column("watch_ratio").to_numpy()),
            h_liked=played.get_column("liked").to_numpy().astype(np.float32),
            user_start=starts.astype(np.int64),
            user_end=ends.astype(np.int64),
            ex_user=ex_user,
            ex_video=positives.get_column("__video").to_numpy().astype(np.int64),
            ex_time=ex_time,
            ex_weight=engagement_weight(
                positives.get_column("watch_ratio").to_numpy(),
                positives.get_column("liked").to_numpy(),
                positives.get_column("shared").to_numpy(),
                rating,
            ),
            ex_hist_end=np.searchsorted(key_h, key_e, side="left").astype(np.int64),
        )

    def window_before(self, examples: Idx, length: int) -> HistoryWindow:
        """Histories of ``examples``: the last ``length`` played events strictly before each."""
        end = self.ex_hist_end[examples]
        start = np.maximum(self.user_start[self.ex_user[examples]], end - length)
        offsets = end[:, None] - length + np.arange(length)[None, :]
        valid = offsets >= start[:, None]
        return self._gather(np.where(valid, offsets, 0), valid)

    def window_others(self, examples: Idx, length: int, rng: np.random.Generator) -> HistoryWindow:
        """For data without time: ``length`` random other played events of the same user.

        The example's own video is excluded, so the target never appears in its input.
        """
        users = self.ex_user[examples]
        start, end = self.user_start[users], self.user_end[users]
        count = end - start
        draws = rng.random((examples.shape[0], length))
        offsets = start[:, None] + np.floor(draws * np.maximum(count, 1)[:, None]).astype(np.int64)
        offsets = np.minimum(offsets, np.maximum(end - 1, start)[:, None])
        valid = (count[:, None] > 0) & (self.h_video[offsets] != self.ex_video[examples][:, None])
        if count.size:
            # When a user has fewer events than the window, show each once instead of sampling.
            small = count <= length
            if small.any():
                grid = start[small, None] + np.arange(length)[None, :]
                offsets[small] = np.minimum(grid, np.maximum(end[small] - 1, 0)[:, None])
                in_range = grid < end[small, None]
                own = self.h_video[offsets[small]] != self.ex_video[examples][small, None]
                valid[small] = in_range & own
        return self._gather(offsets, valid)

    def latest(self, users: Idx, length: int) -> HistoryWindow:
        """The last ``length`` played events of each user (serving-time history)."""
        users = np.asarray(users, dtype=np.int64)
        known = (users >= 0) & (users < self.user_start.shape[0])
        safe = np.where(known, users, 0)
        end = np.where(known, self.user_end[safe], 0)
        start = np.where(known, np.maximum(self.user_start[safe], end - length), 0)
        offsets = end[:, None] - length + np.arange(length)[None, :]
        valid = known[:, None] & (offsets >= start[:, None])
        return self._gather(np.where(valid, offsets, 0), valid)

    def _gather(self, offsets: Idx, valid: np.ndarray) -> HistoryWindow:
        if self.h_video.size == 0:
            shape = offsets.shape
            return HistoryWindow(
                video=np.full(shape, -1, np.int64),
                dwell=np.zeros(shape, np.float32),
                liked=np.zeros(shape, np.float32),
            )
        return HistoryWindow(
            video=np.where(valid, self.h_video[offsets], -1),
            dwell=np.where(valid, self.h_dwell[offsets], 0.0).astype(np.float32),
            liked=np.where(valid, self.h_liked[offsets], 0.0).astype(np.float32),
        )

    def seen_by_user(self) -> list[Idx]:
        """Every video each known user played in this log (for exclusion at recommend time)."""
        return [self.h_video[s:e] for s, e in zip(self.user_start, self.user_end, strict=True)]
