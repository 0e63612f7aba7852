"""Online metrics: hand-computed session values, Gini, intervals."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelrec.evaluation.online_metrics import (
    catalog_metrics,
    clt_interval,
    daily,
    gini,
    session_metrics,
    summarize,
)


def _frame() -> pl.DataFrame:
    # user a: one session of 3 impressions; user b: two sessions of 1 and 2 impressions.
    return pl.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b", "b"],
            "session_id": ["a/0", "a/0", "a/0", "b/0", "b/1", "b/1"],
            "day": [0, 0, 0, 0, 1, 1],
            "watch_seconds": [10.0, 0.0, 30.0, 5.0, 20.0, 20.0],
            "video_seconds": [10.0, 15.0, 60.0, 10.0, 10.0, 40.0],
            "skip": [False, True, False, False, False, False],
            "liked": [True, False, False, False, False, False],
            "shared": [False, False, False, False, False, True],
            "commented": [False] * 6,
            "followed": [False] * 6,
            "topic": [1, 1, 2, 3, 4, 4],
            "fresh": [True, False, False, False, True, True],
            "video": [0, 1, 2, 0, 0, 3],
            "creator": [0, 0, 1, 0, 0, 2],
        }
    )


def test_session_metrics_by_hand() -> None:
    s = session_metrics(_frame()).sort("session_id")
    a = s.row(0, named=True)
    assert a["ctr"] == pytest.approx(2 / 3)
    assert a["watch_time_per_session"] == pytest.approx(40.0)
    assert a["completion_rate"] == pytest.approx(1 / 3)
    assert a["interaction_rate"] == pytest.approx(1 / 3)
    assert a["session_length"] == 3
    assert a["intra_feed_diversity"] == pytest.approx(2 / 3)  # pairs (1,1),(1,2),(1,2)
    assert a["fresh_share"] == pytest.approx(1 / 3)
    assert s.row(1, named=True)["intra_feed_diversity"] is None  # one impression: no pairs
    assert s.row(2, named=True)["intra_feed_diversity"] == pytest.approx(0.0)


def test_summary_averages_sessions_per_user_then_users() -> None:
    est = summarize(_frame(), n_videos=5, n_creators=4, n_boot=20)
    # user a: 40 s; user b: mean(5, 40) = 22.5 → 31.25 over users
    assert est["watch_time_per_session"].mean == pytest.approx(31.25)
    assert est["watch_time_per_session"].n == 2
    assert est["creator_coverage"].mean == pytest.approx(3 / 4)
    assert est["exposure_gini"].mean == pytest.approx(gini(np.array([3, 1, 1, 1, 0])))
    per_day = daily(_frame())
    assert per_day.get_column("day").to_list() == [0, 1]


def _naive_gini(x: np.ndarray) -> float:
    s = np.sort(x).astype(np.float64)
    n = s.size
    return float(2 * np.sum(np.arange(1, n + 1) * s) / (n * s.sum()) - (n + 1) / n)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=200))
def test_gini_matches_the_sort_formula(values: list[int]) -> None:
    x = np.array(values)
    if x.sum() == 0:
        assert gini(x) == 0.0
    else:
        assert gini(x) == pytest.approx(_naive_gini(x), abs=1e-12)


def test_gini_extremes() -> None:
    assert gini(np.full(10, 3)) == pytest.approx(0.0)
    assert gini(np.array([0] * 9 + [7])) == pytest.approx(0.9)


def test_clt_interval() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        e = clt_interval(rng.normal(1.0, 2.0, 200))
        covered += e.lo <= 1.0 <= e.hi
    assert 0.92 <= covered / 400 <= 0.98
    one = clt_interval(np.array([3.0, np.nan]))
    assert (one.mean, one.lo, one.hi, one.n) == (3.0, 3.0, 3.0, 1)


def test_catalog_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    n = 5_000
    frame = pl.DataFrame(
        {
            "user_id": [f"u{i % 500}" for i in range(n)],
            "video": rng.zipf(1.5, n) % 1000,
            "creator": rng.integers(0, 5000, n),
        }
    )
    out = catalog_metrics(frame, n_videos=1000, n_creators=5000, seed=0, n_boot=50)
    for e in out.values():
        assert e.lo < e.mean < e.hi
