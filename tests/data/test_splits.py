"""Splits: disjoint, complete, and no future events in train."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelrec.data.splits import leave_last_out, split_by_time, split_random
from reelrec.errors import DataError

events = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 30), st.integers(0, 50)), min_size=2, max_size=80
)


def _frame(rows: list[tuple[int, int, int]]) -> pl.DataFrame:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "user_id": [f"u{u}" for u, _, _ in rows],
            "video_id": [f"v{v}" for _, v, _ in rows],
            "timestamp": [base + timedelta(hours=h) for _, _, h in rows],
            "row": list(range(len(rows))),
        }
    )


def _rows(*parts: pl.DataFrame) -> list[int]:
    return sorted(r for part in parts for r in part["row"].to_list())


@settings(max_examples=80, deadline=None)
@given(events, st.floats(0.05, 0.95))
def test_split_by_time_disjoint_complete_no_future(
    rows: list[tuple[int, int, int]], frac: float
) -> None:
    df = _frame(rows)
    if df["timestamp"].n_unique() < 2:
        return
    train, test = split_by_time(df, frac)
    assert _rows(train, test) == list(range(len(rows)))
    assert set(train["row"]).isdisjoint(test["row"])
    if train.height and test.height:
        assert train["timestamp"].max() < test["timestamp"].min()


@settings(max_examples=80, deadline=None)
@given(events, st.integers(1, 3))
def test_leave_last_out_per_user(rows: list[tuple[int, int, int]], n: int) -> None:
    df = _frame(rows)
    train, test = leave_last_out(df, n)
    assert _rows(train, test) == list(range(len(rows)))
    counts = df.group_by("user_id").len()
    for user, count in counts.iter_rows():
        user_test = test.filter(pl.col("user_id") == user)
        user_train = train.filter(pl.col("user_id") == user)
        assert user_test.height == (n if count > n else 0)
        if user_test.height:
            assert user_train["timestamp"].max() <= user_test["timestamp"].min()


@settings(max_examples=80, deadline=None)
@given(events, st.integers(0, 1000))
def test_split_random_partitions_each_user(rows: list[tuple[int, int, int]], seed: int) -> None:
    df = _frame(rows)
    parts = split_random(df, (0.8, 0.1, 0.1), seed=seed)
    assert _rows(*parts) == list(range(len(rows)))
    for user, count in df.group_by("user_id").len().iter_rows():
        sizes = [p.filter(pl.col("user_id") == user).height for p in parts]
        assert sum(sizes) == count
        assert abs(sizes[0] - 0.8 * count) <= 1.0
    again = split_random(df, (0.8, 0.1, 0.1), seed=seed)
    assert all(a.equals(b) for a, b in zip(parts, again, strict=True))


def test_split_errors() -> None:
    df = _frame([(0, 1, 1), (0, 2, 2)])
    with pytest.raises(DataError, match="test_fraction"):
        split_by_time(df, 1.5)
    with pytest.raises(DataError, match="timestamps"):
        split_by_time(df.drop("timestamp"))
    with pytest.raises(DataError, match="timestamps"):
        leave_last_out(df.drop("timestamp"))
    with pytest.raises(DataError, match="ratios"):
        split_random(df, (0.5, 0.6))
