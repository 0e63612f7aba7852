"""Ranker training data (impressions and labels) and the deterministic training loop.

Impressions are every logged row, skips included (the synthetic world logs a skip as a row with
``watch_seconds = 0``). Labels per ``HEADS``: watch = min(watch ratio, cap) / cap (a soft target),
like = ``liked`` — or, for rated data without likes, rating ≥ ``data.positive_min_rating`` —,
complete = watch ratio ≥ ``COMPLETE_RATIO`` (the feature store's and the simulator's
definition, so trained and live completion counts add up), share_follow = shared or followed.
A label that is unknown for a row (no watch time) is masked for that row; a head with one class
only in the whole log is unavailable: masked out of the loss and reported as n/a.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from torch import nn

from reelrec.config import DataConfig, RankingConfig
from reelrec.data.signals import watch_ratio_expr
from reelrec.errors import TrainingError
from reelrec.features.definitions import FeatureSpace
from reelrec.features.events import COMPLETE_RATIO
from reelrec.ranking.model import HEADS, MultiTaskRanker
from reelrec.types import Idx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Impressions:
    """Encoded impressions with labels: ``[n]`` user/video/time, ``[n, 4]`` labels and mask,
    ``[n, 6]`` count values (``features.COUNT_COLUMNS``) for engagement aggregates."""

    user: Idx
    video: Idx
    time: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def take(self, rows: Idx) -> Impressions:
        """The subset at ``rows``."""
        return Impressions(**{k: getattr(self, k)[rows] for k in self.__dataclass_fields__})

    def concat(self, other: Impressions) -> Impressions:
        """Rows of ``self`` then ``other``."""
        return Impressions(
            **{
                k: np.concatenate([getattr(self, k), getattr(other, k)])
                for k in self.__dataclass_fields__
            }
        )


def impressions(
    frame: pl.DataFrame, space: FeatureSpace, data_cfg: DataConfig, cfg: RankingConfig
) -> Impressions:
    """Encode and label every row of an interactions frame (known users and videos only)."""
    cols = frame.columns
    ratio = frame.select(watch_ratio_expr(cols)).to_series().to_numpy().astype(np.float64)
    liked = frame.get_column("liked").to_numpy().astype(bool)
    if not liked.any() and "rating" in cols:
        rating = frame.get_column("rating").to_numpy().astype(np.float64)
        liked = np.nan_to_num(rating, nan=-np.inf) >= data_cfg.positive_min_rating
    share = (frame.get_column("shared") | frame.get_column("followed")).to_numpy().astype(bool)
    known = ~np.isnan(ratio)
    safe = np.nan_to_num(ratio)
    labels = np.column_stack(
        [np.minimum(safe, cfg.watch_cap) / cfg.watch_cap, liked, safe >= COMPLETE_RATIO, share]
    ).astype(np.float32)
    mask = np.column_stack([known, np.ones_like(known), known, np.ones_like(known)])
    counts = np.column_stack(
        [
            np.ones_like(safe),
            known,
            np.minimum(safe, cfg.watch_cap) * known,
            liked,
            (safe >= COMPLETE_RATIO) & known,
            share,
        ]
    ).astype(np.float64)
    if "timestamp" in cols:
        time = frame.get_column("timestamp").dt.epoch("us").cast(pl.Float64).to_numpy() / 1e6
    else:
        time = np.full(frame.height, np.nan)
    user = space.users.encode(frame.get_column("user_id"))
    video = space.videos.encode(frame.get_column("video_id"))
    keep = (user >= 0) & (user < space.users.n_known) & (video >= 0)
    keep &= video < space.videos.n_known
    return Impressions(
        user=user[keep], video=video[keep], time=time[keep], labels=labels[keep],
        mask=mask[keep], counts=counts[keep],
    )  # fmt: skip


def available_heads(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``[len(HEADS)]`` heads whose masked labels take more than one value."""
    out = np.zeros(len(HEADS), dtype=bool)
    for h in range(len(HEADS)):
        values = labels[mask[:, h], h]
        out[h] = values.size > 1 and float(values.min()) < float(values.max())
    return out


def fit_ranker(
    x: np.ndarray, labels: np.ndarray, mask: np.ndarray, cfg: RankingConfig
) -> tuple[MultiTaskRanker, np.ndarray, list[float]]:
    """Train a ranker on ``[n, F]`` rows; returns (model, available heads, loss per epoch).

    Per-head binary cross-entropy on masked rows (the watch head on its soft target), summed
    over available heads. Deterministic given ``cfg.seed``.
    """
    available = available_heads(labels, mask)
    torch.manual_seed(cfg.seed)
    mean = x.mean(axis=0)
    std = np.maximum(x.std(axis=0), 1e-3)
    model = MultiTaskRanker(x.shape[1], list(cfg.hidden), mean, std)
    optim = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    xs, ys = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels)
    ms = torch.from_numpy((mask & available[None, :]).astype(np.float32))
    rng = np.random.default_rng(cfg.seed)
    losses: list[float] = []
    for epoch in range(cfg.epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        total, seen = 0.0, 0
        for start in range(0, len(x), cfg.batch_size):
            rows = order[start : start + cfg.batch_size]
            logits = model(xs[rows])
            m = ms[rows]
            per_head = (loss_fn(logits, ys[rows]) * m).sum(0) / m.sum(0).clamp_min(1.0)
            loss = per_head.sum()
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(rows)
            seen += len(rows)
        losses.append(total / max(seen, 1))
        if not np.isfinite(losses[-1]):
            raise TrainingError(
                f"ranker loss is {losses[-1]} at epoch {epoch + 1}; lower ranking.learning_rate"
            )
        log.info("ranker epoch %d loss %.4f", epoch + 1, losses[-1])
    model.eval()
    return model, available, losses


__all__ = ["Impressions", "available_heads", "fit_ranker", "impressions"]
