"""Online metrics of a feed from its impression log: per session, per user, with 95% CIs.

Per-session metrics (one value per ``session_id``), averaged per user and then over users, with
a CLT interval over users (users are the independent unit):

* ``ctr``: share of impressions not skipped;
* ``watch_time_per_session``: seconds watched in the session;
* ``completion_rate``: share of impressions watched to the end (watch ratio ≥ 1);
* ``interaction_rate``: share of impressions with a like, share, comment or follow;
* ``session_length``: impressions in the session;
* ``intra_feed_diversity``: share of impression pairs from different topics (needs ``topic``);
* ``fresh_share``: share of fresh videos (needs ``fresh``).

Catalogue metrics over all impressions, with a seeded half-sampling interval over users:
``creator_coverage`` (share of creators shown at least once; needs ``creator``) and
``exposure_gini`` (Gini of impressions per catalogue video: the Matthew effect).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

Z95 = 1.959963984540054
SESSION_METRICS = (
    "ctr",
    "watch_time_per_session",
    "completion_rate",
    "interaction_rate",
    "session_length",
    "intra_feed_diversity",
    "fresh_share",
)
CATALOG_METRICS = ("creator_coverage", "exposure_gini")
_ENGAGED = ("liked", "shared", "commented", "followed")


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """A mean with its 95% confidence interval and the number of users behind it."""

    mean: float
    lo: float
    hi: float
    n: int

    def to_json(self) -> dict[str, object]:
        """``{"mean": m, "ci95": [lo, hi], "n": n}``."""
        return {"mean": self.mean, "ci95": [self.lo, self.hi], "n": self.n}


def _skipped(frame: pl.DataFrame) -> pl.Expr:
    if "skip" in frame.columns:
        return pl.col("skip").fill_null(True)
    return pl.col("watch_seconds").fill_null(0.0) <= 0.0


def session_metrics(impressions: pl.DataFrame) -> pl.DataFrame:
    """One row per (user_id, session_id[, variant]) with the per-session metrics available."""
    f = impressions
    keys = [c for c in ("variant", "user_id", "session_id") if c in f.columns]
    ratio = (pl.col("watch_seconds").fill_null(0.0) / pl.col("video_seconds")).fill_nan(0.0)
    engaged = pl.any_horizontal([pl.col(c).fill_null(False) for c in _ENGAGED if c in f.columns])
    aggs = [
        (~_skipped(f)).mean().alias("ctr"),
        pl.col("watch_seconds").fill_null(0.0).sum().alias("watch_time_per_session"),
        (ratio >= 1.0).mean().alias("completion_rate"),
        engaged.mean().alias("interaction_rate"),
        pl.len().cast(pl.Float64).alias("session_length"),
    ]
    if "topic" in f.columns:
        aggs.append(pl.col("topic").alias("_topics"))
    if "fresh" in f.columns:
        aggs.append(pl.col("fresh").mean().alias("fresh_share"))
    out = f.group_by(keys, maintain_order=True).agg(aggs)
    if "topic" in f.columns:
        pairs = (
            pl.col("_topics").list.eval(pl.element().value_counts().struct.field("count"))
        ).alias("_counts")
        n = pl.col("_topics").list.len().cast(pl.Float64)
        same = pl.col("_counts").list.eval((pl.element() * (pl.element() - 1)).cast(pl.Float64))
        out = out.with_columns(pairs).with_columns(
            pl.when(n >= 2)
            .then(1.0 - same.list.sum() / (n * (n - 1.0)))
            .otherwise(None)
            .alias("intra_feed_diversity")
        )
        out = out.drop("_topics", "_counts")
    return out


def user_means(sessions: pl.DataFrame) -> pl.DataFrame:
    """Per-user means of the session metrics (one row per user[, variant])."""
    keys = [c for c in ("variant", "user_id") if c in sessions.columns]
    metrics = [c for c in SESSION_METRICS if c in sessions.columns]
    return sessions.group_by(keys, maintain_order=True).agg(pl.col(metrics).mean())


def clt_interval(values: np.ndarray) -> Estimate:
    """Mean of ``values`` (NaNs dropped) with a normal-approximation 95% interval."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Estimate(mean=float("nan"), lo=float("nan"), hi=float("nan"), n=0)
    mean = float(x.mean())
    half = Z95 * float(x.std(ddof=1)) / np.sqrt(x.size) if x.size > 1 else 0.0
    return Estimate(mean=mean, lo=mean - half, hi=mean + half, n=int(x.size))


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative integer ``counts`` (0 = equal, → 1 = concentrated)."""
    c = np.asarray(counts, dtype=np.int64)
    n, total = c.size, int(c.sum())
    if n == 0 or total == 0:
        return 0.0
    hist = np.bincount(c)  # counts of counts: an O(n) sort of small integers
    values = np.flatnonzero(hist)
    mult = hist[values]
    end = np.cumsum(mult)
    first = end - mult + 1  # 1-based sorted positions of each value's run
    rank_sum = (first + end) * mult / 2.0
    weighted = float(np.sum(values * rank_sum))
    return 2.0 * weighted / (n * total) - (n + 1.0) / n


def _user_matrix(impressions: pl.DataFrame, column: str, width: int) -> tuple[sp.csr_matrix, int]:
    users = impressions.get_column("user_id").cast(pl.Categorical).to_physical().to_numpy()
    n_users = int(users.max()) + 1 if users.size else 0
    cols = impressions.get_column(column).to_numpy().astype(np.int64)
    data = np.ones(users.size, np.int64)
    return sp.csr_matrix((data, (users, cols)), shape=(n_users, width)), n_users


def catalog_metrics(
    impressions: pl.DataFrame,
    *,
    n_videos: int,
    n_creators: int | None,
    seed: int = 0,
    n_boot: int = 200,
) -> dict[str, Estimate]:
    """``exposure_gini`` (needs a ``video`` int column) and ``creator_coverage`` (``creator``)."""
    out: dict[str, Estimate] = {}
    specs = [("exposure_gini", "video", n_videos)]
    if n_creators and "creator" in impressions.columns:
        specs.append(("creator_coverage", "creator", n_creators))
    for name, column, width in specs:
        if column not in impressions.columns or impressions.height == 0:
            continue
        matrix, n_users = _user_matrix(impressions, column, width)
        stat = _gini_of if name == "exposure_gini" else _coverage_of
        value = stat(np.asarray(matrix.sum(axis=0)).ravel())
        rng = np.random.default_rng(seed)
        halves = np.empty(n_boot)
        for b in range(n_boot):
            half = rng.permutation(n_users)[: n_users // 2]
            halves[b] = stat(np.asarray(matrix[half].sum(axis=0)).ravel())
        # Half-samples: Var(θ̂_half) ≈ 2·Var(θ̂); the interval is centred on the full estimate
        # (a with-replacement bootstrap would duplicate users and inflate concentration).
        half_width = Z95 * float(halves.std(ddof=1)) / np.sqrt(2.0) if n_boot > 1 else 0.0
        lo, hi = value - half_width, value + half_width
        out[name] = Estimate(mean=value, lo=float(lo), hi=float(hi), n=n_users)
    return out


def _gini_of(counts: np.ndarray) -> float:
    return gini(np.asarray(counts, dtype=np.int64))


def _coverage_of(counts: np.ndarray) -> float:
    return float(np.count_nonzero(counts)) / max(1, len(counts))


def summarize(
    impressions: pl.DataFrame,
    *,
    n_videos: int | None = None,
    n_creators: int | None = None,
    seed: int = 0,
    n_boot: int = 200,
) -> dict[str, Estimate]:
    """Every metric the impressions allow, as means over users with 95% intervals.

    ``n_videos``/``n_creators`` size the catalogue for ``exposure_gini``/``creator_coverage``
    (the frame then needs integer ``video``/``creator`` columns); without them those are skipped.
    """
    means = user_means(session_metrics(impressions))
    out = {m: clt_interval(means.get_column(m).to_numpy()) for m in SESSION_METRICS if m in means}
    if n_videos:
        out |= catalog_metrics(
            impressions, n_videos=n_videos, n_creators=n_creators, seed=seed, n_boot=n_boot
        )
    return out


def daily(impressions: pl.DataFrame, n_videos: int | None = None) -> pl.DataFrame:
    """Mean of each session metric per [variant and] simulated ``day`` (for plots over time),
    plus that day's ``exposure_gini`` over ``n_videos`` when given (needs a ``video`` column)."""
    sessions = session_metrics(impressions)
    days = impressions.select("session_id", "day").unique("session_id")
    joined = sessions.join(days, on="session_id", how="left")
    metrics = [c for c in SESSION_METRICS if c in sessions.columns]
    keys = [c for c in ("variant", "day") if c in joined.columns]
    out = joined.group_by(keys).agg(pl.col(metrics).mean()).sort(keys)
    if n_videos and "video" in impressions.columns:
        ginis = [
            {
                **dict(zip(keys, key, strict=True)),
                "exposure_gini": _gini_of(_counts(part, n_videos)),
            }
            for key, part in impressions.group_by(keys)
        ]
        out = out.join(pl.DataFrame(ginis), on=keys, how="left").sort(keys)
    return out


def _counts(part: pl.DataFrame, n_videos: int) -> np.ndarray:
    return np.bincount(part.get_column("video").to_numpy(), minlength=n_videos)
