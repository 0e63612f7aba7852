"""Train/test splits without leakage: global temporal, per-user leave-last-out, per-user random."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from reelrec.errors import DataError

_ROW = "__row"


def _require_time(df: pl.DataFrame, what: str) -> None:
    if "timestamp" not in df.columns:
        raise DataError(
            f"{what} needs interaction timestamps, but this data has none; "
            "use split_random (per-user random ratio split) instead"
        )


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise DataError(f"{name} must be in (0, 1); got {value}")


def split_by_time(
    df: pl.DataFrame, test_fraction: float = 0.1
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split at one global time cut: the latest ``test_fraction`` of events form the test set.

    Every test event is at or after the cut and every train event strictly before it, so no
    training event comes from the test period. Events sharing the cut time all go to test.

    Raises:
        DataError: no timestamps, a fraction outside (0, 1), or an empty side.
    """
    _require_time(df, "split_by_time")
    _check_fraction("test_fraction", test_fraction)
    times = df.get_column("timestamp").sort()
    if times.n_unique() < 2:
        raise DataError("split_by_time needs events at two or more distinct times")
    position = min(round((1.0 - test_fraction) * times.len()), times.len() - 1)
    cut = times[position]
    if cut == times[0]:
        # Keep train non-empty: move the cut to the second distinct time.
        cut = times.filter(times > cut)[0]
    train = df.filter(pl.col("timestamp") < cut)
    test = df.filter(pl.col("timestamp") >= cut)
    return train, test


def leave_last_out(df: pl.DataFrame, n: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per user, the last ``n`` events (by time, then input order) go to test.

    Users with ``n`` or fewer events keep them all in train (they have nothing to learn from).

    Raises:
        DataError: no timestamps, or ``n`` < 1.
    """
    _require_time(df, "leave_last_out")
    if n < 1:
        raise DataError(f"leave_last_out: n must be ≥ 1; got {n}")
    ranked = df.with_row_index(_ROW).with_columns(
        pl.struct("timestamp", _ROW)
        .rank("ordinal", descending=True)
        .over("user_id")
        .alias("__from_end"),
        pl.len().over("user_id").alias("__count"),
    )
    is_test = (pl.col("__from_end") <= n) & (pl.col("__count") > n)
    train = ranked.filter(~is_test).sort(_ROW).drop(_ROW, "__from_end", "__count")
    test = ranked.filter(is_test).sort(_ROW).drop(_ROW, "__from_end", "__count")
    return train, test


def split_random(
    df: pl.DataFrame, ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[pl.DataFrame, ...]:
    """Per-user random ratio split (RecBole's "RS" protocol) for data without time.

    Each user's events are shuffled with ``seed`` and cut at the cumulative ratios, rounded,
    so every part holds about its share of every user's events. Row order is kept in each part.

    Raises:
        DataError: ratios that are not positive or do not sum to 1.
    """
    if len(ratios) < 2 or any(r <= 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise DataError(
            f"split_random: ratios must be ≥ 2 positive numbers summing to 1; got {ratios}"
        )
    keyed = df.with_row_index(_ROW).with_columns(
        pl.col(_ROW).hash(seed).alias("__key"),
    )
    keyed = keyed.with_columns(
        (pl.struct("__key", _ROW).rank("ordinal").over("user_id") - 1).alias("__pos"),
        pl.len().over("user_id").alias("__count"),
    )
    parts: list[pl.DataFrame] = []
    low = pl.lit(0.0)
    cumulative = 0.0
    for ratio in ratios:
        cumulative += ratio
        high = (pl.col("__count") * min(cumulative, 1.0)).round()
        part = keyed.filter((pl.col("__pos") >= low) & (pl.col("__pos") < high))
        parts.append(part.sort(_ROW).drop(_ROW, "__key", "__pos", "__count"))
        low = high
    return tuple(parts)
