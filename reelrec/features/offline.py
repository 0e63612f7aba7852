"""The offline engine: the registry's features over a whole log, point in time, with Polars.

A query (entity, t) sees only events strictly before t: cumulative states are computed per
entity in (time, row) order and joined as of t with ``allow_exact_matches=False``.
``materialise`` writes them for every interaction of a log to Parquet (training data);
``features_at`` answers arbitrary queries in the same shape as the online store's reads, so
the two engines can be compared value for value (``tests/features/test_parity.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from reelrec.artifacts import staged_dir
from reelrec.data.signals import watch_ratio_expr
from reelrec.errors import DataError
from reelrec.features.events import COMPLETE_RATIO, SKIP_RATIO
from reelrec.features.registry import Entity, Feature, features_of, scalar_features
from reelrec.progress import track

_FLAGS = ("liked", "shared", "commented", "followed")


def event_frame(interactions: pl.DataFrame) -> pl.DataFrame:
    """One row per event with every registry source as a column (as ``events.Event`` derives)."""
    cols = interactions.columns
    if "timestamp" not in cols:
        raise DataError("point-in-time features need a 'timestamp' column; the log has none")
    ratio = watch_ratio_expr(cols) if "watch_seconds" in cols or "watch_ratio" in cols else None
    frame = interactions.with_row_index("__row").with_columns(
        (pl.col("timestamp").dt.epoch("us").cast(pl.Float64) / 1e6).alias("__time"),
        (ratio if ratio is not None else pl.lit(None, pl.Float64)).alias("__ratio"),
        *[pl.col(f).fill_null(False) if f in cols else pl.lit(False).alias(f) for f in _FLAGS],
    )
    known = pl.col("__ratio").is_not_null()
    played = pl.when(known).then(pl.col("__ratio") > 0).otherwise(True)
    if "watch_seconds" in cols:
        played = (
            pl.when(pl.col("watch_seconds").is_not_null())
            .then(pl.col("watch_seconds") > 0)
            .otherwise(played)
        )
    skipped = known & (pl.col("__ratio") < SKIP_RATIO)
    if "skipped" in cols:
        skipped = pl.col("skipped").fill_null(skipped)
    frame = frame.with_columns(played.alias("played"), skipped.alias("skipped"))
    return frame.select(
        "__row",
        "user_id",
        "video_id",
        "__time",
        pl.col("__ratio").fill_null(float("nan")).alias("watch_ratio"),
        *[pl.col(c).cast(pl.Float64) for c in ("played", *_FLAGS, "skipped")],
        (pl.col("played") & known & (pl.col("__ratio") >= COMPLETE_RATIO))
        .cast(pl.Float64)
        .alias("completed"),
        pl.lit(1.0).alias("one"),
        pl.col("__ratio").fill_null(1.0).clip(0.0, 3.0).alias("watch"),
    ).sort("__time", "__row")


def _grouped_logaddexp(keys: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Running log-sum-exp of ``x`` within runs of equal ``keys`` (rows sorted by key)."""
    out = np.empty_like(x)
    bounds = np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1, keys.size]
    with np.errstate(invalid="ignore"):
        for lo, hi in itertools.pairwise(bounds):
            out[lo:hi] = np.logaddexp.accumulate(x[lo:hi])
    return out


def _state_columns(events: pl.DataFrame, entity: Entity) -> pl.DataFrame:
    """Per event: the entity's cumulative state after it (events sorted by key, time, row)."""
    key = f"{entity}_id"
    frame = events.sort(key, "__time", "__row")
    exprs: list[pl.Expr] = []
    for f in scalar_features(entity):
        where = pl.col(f.where or "one")
        value = pl.col(f.source)
        if f.transform == "sum":
            exprs.append((value * where).cum_sum().over(key).alias(f.name))
        elif f.transform == "mean":
            exprs.append((value * where).cum_sum().over(key).alias(f.name + "__s"))
            exprs.append(where.cum_sum().over(key).alias(f.name + "__c"))
    frame = frame.with_columns(exprs)
    keys = frame.get_column(key).to_numpy()
    times = frame.get_column("__time").to_numpy()
    for f in scalar_features(entity):
        counted = frame.get_column(f.source).to_numpy() > 0
        if f.transform == "decayed_count":
            x = np.where(counted, times / float(f.window or 1.0), -np.inf)
            frame = frame.with_columns(pl.Series(f.name + "__L", _grouped_logaddexp(keys, x)))
        elif f.transform == "ewma_gap":
            frame = frame.with_columns(_ewma_gap(frame, key, f, counted).alias(f.name + "__B"))
    return frame


def _ewma_gap(frame: pl.DataFrame, key: str, f: Feature, counted: np.ndarray) -> pl.Series:
    alpha = 1.0 / float(f.window or 1.0)
    seen = frame.filter(pl.Series(counted)).select(
        "__row",
        pl.col("__time")
        .diff()
        .over(key)
        .fill_null(0.0)
        .ewm_mean(alpha=alpha, adjust=False)
        .over(key)
        .alias("__B"),
    )
    joined = frame.select("__row", key).join(seen, on="__row", how="left", maintain_order="left")
    return joined.select(pl.col("__B").forward_fill().over(key)).to_series()


def _read(frame: pl.DataFrame, entity: Entity) -> pl.DataFrame:
    """Feature values from joined state columns at ``__at`` (nulls: no events before)."""
    exprs: list[pl.Expr] = []
    for f in scalar_features(entity):
        if f.transform == "sum":
            exprs.append(pl.col(f.name).fill_null(0.0))
        elif f.transform == "mean":
            c = pl.col(f.name + "__c").fill_null(0.0)
            ratio = pl.col(f.name + "__s") / c
            exprs.append(pl.when(c > 0).then(ratio).otherwise(0.0).alias(f.name))
        elif f.transform == "decayed_count":
            decay = (pl.col(f.name + "__L") - pl.col("__at") / float(f.window or 1.0)).exp()
            exprs.append(decay.fill_null(0.0).fill_nan(0.0).alias(f.name))
        else:
            b = pl.col(f.name + "__B").fill_null(0.0)
            exprs.append(pl.when(b > 0).then(1.0 / b).otherwise(0.0).alias(f.name))
    return frame.with_columns(exprs)


def point_in_time(events: pl.DataFrame, entity: Entity, queries: pl.DataFrame) -> pl.DataFrame:
    """Scalar features of ``queries`` (``<entity>_id``, ``__at`` seconds), in query order.

    Each query sees only the entity's events strictly before ``__at``.
    """
    key = f"{entity}_id"
    states = _state_columns(events, entity).sort("__time", "__row")
    state_cols = [c for c in states.columns if c.split("__")[0] in _names(entity) and c != key]
    left = queries.with_row_index("__q").sort("__at")
    joined = left.join_asof(
        states.select(key, "__time", *state_cols),
        left_on="__at",
        right_on="__time",
        by=key,
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,  # both sides are sorted by time; groups make Polars unsure
    ).sort("__q")
    names = [f.name for f in scalar_features(entity)]
    return _read(joined, entity).select(*queries.columns, *names)


def _names(entity: Entity) -> set[str]:
    return {f.name for f in scalar_features(entity)}


def features_at(
    events: pl.DataFrame,
    entity: Entity,
    ids: Sequence[str],
    times: Sequence[float],
    history_length: int = 50,
) -> list[dict[str, Any]]:
    """Features of each (id, time) as the online store would report them after replaying every
    event strictly before that time (``events`` from ``event_frame``)."""
    queries = pl.DataFrame(
        {f"{entity}_id": list(ids), "__at": list(times)},
        schema={f"{entity}_id": pl.Utf8, "__at": pl.Float64},
    )
    rows = point_in_time(events, entity, queries).drop(f"{entity}_id", "__at").to_dicts()
    if entity == "user" and any(f.transform == "last_n" for f in features_of("user")):
        for row, user, at in zip(rows, ids, times, strict=True):
            before = events.filter((pl.col("user_id") == user) & (pl.col("__time") < at))
            row["seen"] = before.get_column("video_id").unique(maintain_order=True).to_list()
            played = before.filter(pl.col("played") > 0).tail(history_length)
            row["history"] = [
                (r["__time"], r["video_id"], r["watch_ratio"], bool(r["liked"]))
                for r in played.iter_rows(named=True)
            ]
    return rows


def materialise(interactions: pl.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Write ``user.parquet`` and ``video.parquet`` under ``out_dir`` atomically: for every
    interaction (``row``, ids, ``timestamp``), the entity's features strictly before it."""
    events = event_frame(interactions)
    written: dict[str, Path] = {}
    with staged_dir(out_dir) as tmp:
        entities: tuple[Entity, ...] = ("user", "video")
        for entity in track(entities, "offline features"):
            queries = events.select(
                pl.col("__row").alias("row"),
                "user_id",
                "video_id",
                pl.col("__time").alias("__at"),
            )
            frame = point_in_time(events, entity, queries)
            frame = frame.join(
                interactions.with_row_index("row").select("row", "timestamp"), on="row"
            ).sort("row")
            names = [f.name for f in scalar_features(entity)]
            frame.select("row", "user_id", "video_id", "timestamp", *names).write_parquet(
                tmp / f"{entity}.parquet"
            )
            written[entity] = Path(out_dir) / f"{entity}.parquet"
    return written


__all__ = ["event_frame", "features_at", "materialise", "point_in_time"]
