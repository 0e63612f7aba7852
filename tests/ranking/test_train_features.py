"""Ranker training: head masking and determinism; point-in-time features."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reelrec.config import RankingConfig
from reelrec.features.history import InteractionLog
from reelrec.ranking.features import CountTable, windows_at
from reelrec.ranking.runtime import RankerRuntime
from reelrec.ranking.train import available_heads, fit_ranker

CFG = RankingConfig(hidden=[8], epochs=2, batch_size=64)


def _data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    labels = np.column_stack([rng.uniform(size=n), x[:, 0] > 0, x[:, 1] > 0, np.zeros(n)]).astype(
        np.float32
    )
    mask = np.ones((n, 4), dtype=bool)
    mask[: n // 2, 0] = False  # no watch time for half of the rows
    return x, labels, mask


def test_constant_head_is_unavailable_and_masked_rows_do_not_matter() -> None:
    x, labels, mask = _data()
    model, available, losses = fit_ranker(x, labels, mask, CFG)
    assert available.tolist() == [True, True, True, False]  # share/follow never positive
    assert len(losses) == 2
    assert all(np.isfinite(losses))
    changed = labels.copy()
    changed[~mask[:, 0], 0] = 1.0  # labels under the mask must not change training
    changed[:, 3] = 0.0
    model2, _, losses2 = fit_ranker(x, changed, mask, CFG)
    assert losses2 == losses
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_unavailable_head_weighs_nothing_in_the_feed_score() -> None:
    x, labels, mask = _data()
    model, available, _ = fit_ranker(x, labels, mask, CFG)
    runtime = RankerRuntime.from_torch(
        model, available=available, head_weights=np.array([0, 0, 0, 100.0]), watch_cap=3.0
    )
    np.testing.assert_array_equal(runtime.score(x)[0], 0.0)


def test_available_heads_rejects_masked_only_variation() -> None:
    labels = np.array([[0.2, 1, 0, 0], [0.2, 0, 0, 1]], np.float32)
    mask = np.array([[True, True, True, True], [True, True, True, False]])
    assert available_heads(labels, mask).tolist() == [False, True, False, False]


def test_counts_before_a_time_exclude_that_time_and_later() -> None:
    video = np.array([0, 0, 0, 1])
    time = np.array([10.0, 20.0, 30.0, 5.0])
    values = np.column_stack([np.ones(4), np.arange(4.0)])
    table = CountTable.build(video, time, values, n_videos=3)
    got = table.before(np.array([0, 0, 0, 1, 2]), np.array([20.0, 20.5, np.inf, 5.0, 9.0]))
    np.testing.assert_array_equal(got[:, 0], [1, 2, 3, 0, 0])
    np.testing.assert_array_equal(table.totals()[:, 1], [3.0, 3.0, 0.0])


def test_windows_hold_only_earlier_events() -> None:
    log = InteractionLog(
        has_time=True,
        h_user=np.array([0, 0, 0, 1]),
        h_video=np.array([5, 6, 7, 8]),
        h_time=np.array([1.0, 2.0, 3.0, 1.0]),
        h_dwell=np.ones(4, np.float32),
        h_liked=np.zeros(4, np.float32),
        user_start=np.array([0, 3]),
        user_end=np.array([3, 4]),
        ex_user=np.empty(0, np.int64), ex_video=np.empty(0, np.int64), ex_time=np.empty(0),
        ex_weight=np.empty(0, np.float32), ex_hist_end=np.empty(0, np.int64),
    )  # fmt: skip
    w = windows_at(log, np.array([0, 0, 1, 7]), np.array([3.0, np.nan, 1.0, 1.0]), 2)
    assert w.video.tolist() == [[5, 6], [6, 7], [-1, -1], [-1, -1]]


def test_cross_features_by_hand_and_own_video_excluded() -> None:
    from reelrec.features.definitions import VideoArrays
    from reelrec.features.history import HistoryWindow
    from reelrec.ranking.features import RankerInputs, build_inputs, n_inputs

    n = 4  # videos 0..3; creators 0,0,1,1; tags (+1 coded) {1}, {1,2}, {2}, {}
    catalog = VideoArrays(
        video_idx=np.arange(n), creator_idx=np.array([0, 0, 1, 1]),
        tags=np.array([[1, 0], [1, 2], [2, 0], [0, 0]]), duration_bucket=np.zeros(n, np.int64),
        upload_seconds=np.full(n, np.nan), title=np.zeros((n, 1), np.int64),
        vectors=np.zeros((n, 0), np.float32), unsafe=np.zeros(n, bool),
    )  # fmt: skip
    window = HistoryWindow(
        video=np.array([[0, 2, -1]]), dwell=np.array([[3.0, 1.0, 0.0]], np.float32),
        liked=np.zeros((1, 3), np.float32),
    )  # fmt: skip
    x = RankerInputs(
        user_vec=np.ones((1, 2), np.float32), window=window, at_seconds=np.array([np.nan]),
        row_user=np.zeros(3, np.int64), cand=np.array([1, 3, 0]),
        item_vec=np.ones((3, 2), np.float32), stats=np.zeros((3, 6), np.float32),
    )  # fmt: skip
    rows = build_inputs(x, catalog, n_tags=2)
    assert rows.shape == (3, n_inputs(2))
    creator_aff, same_count, tag_aff = rows[:, -3], rows[:, -2], rows[:, -1]
    # video 1: creator 0 holds dwell 3 of 4; tags 1 (mass 3) and 2 (mass 1) → mean 2 / 4.
    # video 3: creator 1 holds dwell 1 of 4; no tags.
    # video 0 is in the history itself: excluded, leaving video 2 alone (creator 1, tag 2).
    np.testing.assert_allclose(creator_aff, [0.75, 0.25, 0.0], rtol=1e-6)
    np.testing.assert_allclose(same_count, np.log1p([1, 1, 0]), rtol=1e-6)
    np.testing.assert_allclose(tag_aff, [0.5, 0.0, 0.0], atol=1e-6)


def _cross_by_definition(
    video: np.ndarray, dwell: np.ndarray, row_user: np.ndarray, cand: np.ndarray,
    creator: np.ndarray, tags: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """The cross features row by row, straight from their definition (the reference)."""
    out = []
    for u, c in zip(row_user.tolist(), cand.tolist(), strict=True):
        rows = [
            (v, float(d)) for v, d in zip(video[u], dwell[u], strict=True) if 0 <= v < len(creator)
        ]
        others = [(v, d) for v, d in rows if v != c]
        total = max(sum(d for _, d in others), 1e-6)
        same = [d for v, d in others if creator[c] >= 0 and creator[v] == creator[c]]
        cand_tags = [t for t in tags[c] if t > 0]
        mass = [sum(d for v, d in others if t in tags[v]) for t in cand_tags]
        tag_aff = sum(mass) / max(len(cand_tags), 1) / total
        out.append([sum(same) / total, np.log1p(len(same)), tag_aff])
    return np.asarray(out)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_cross_features_match_their_row_by_row_definition(seed: int) -> None:
    from reelrec.features.definitions import VideoArrays
    from reelrec.features.history import HistoryWindow
    from reelrec.ranking.features import RankerInputs, build_inputs

    rng = np.random.default_rng(seed)
    n, users, length, rows = 12, 3, 6, 25
    tags = np.sort(rng.integers(0, 4, (n, 3)), axis=1)[:, ::-1]  # 0-padded, 1-coded, no repeats
    tags = np.where(np.diff(tags, axis=1, prepend=-1) == 0, 0, tags)
    catalog = VideoArrays(
        video_idx=np.arange(n), creator_idx=rng.integers(-1, 4, n), tags=tags,
        duration_bucket=np.zeros(n, np.int64), upload_seconds=np.full(n, np.nan),
        title=np.zeros((n, 1), np.int64), vectors=np.zeros((n, 0), np.float32),
        unsafe=np.zeros(n, bool),
    )  # fmt: skip
    # History ids beyond the catalogue (ingested videos) and padding (-1) must not count.
    video = rng.integers(-1, n + 2, (users, length))
    dwell = rng.uniform(0, 5, (users, length)).astype(np.float32)
    window = HistoryWindow(video=video, dwell=dwell, liked=np.zeros_like(dwell))
    row_user, cand = rng.integers(0, users, rows), rng.integers(0, n, rows)
    x = RankerInputs(
        user_vec=np.ones((users, 2), np.float32), window=window,
        at_seconds=np.full(users, np.nan), row_user=row_user, cand=cand,
        item_vec=np.ones((rows, 2), np.float32), stats=np.zeros((rows, 6), np.float32),
    )  # fmt: skip
    got = build_inputs(x, catalog, n_tags=3)[:, -3:]
    want = _cross_by_definition(video, dwell, row_user, cand, catalog.creator_idx, tags)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_serving_stats_equal_the_counts_they_come_from() -> None:
    from reelrec.ranking.features import stats_features
    from reelrec.ranking.ranker import Ranker

    rng = np.random.default_rng(3)
    counts = rng.integers(0, 50, (30, 6)).astype(np.float64)
    prior = np.array([0.6, 0.1, 0.3, 0.05])
    runtime = RankerRuntime(
        weights=[], biases=[], available=np.ones(4, bool), head_weights=np.ones(4), watch_cap=3.0
    )
    ranker = Ranker(runtime=runtime, counts=counts, prior=prior, n_tags=1, history_length=5)
    idx = np.array([0, 29, 7, -1, 30, 1000, 7])  # unknown videos read as no impressions
    known = (idx >= 0) & (idx < 30)
    want = stats_features(np.where(known[:, None], counts[np.where(known, idx, 0)], 0.0), prior)
    np.testing.assert_array_equal(ranker.stats(idx), want)
    from reelrec.features.registry import VIDEO_STATS

    live = np.zeros((idx.size, len(VIDEO_STATS)), np.float32)  # no live views: same stats
    np.testing.assert_allclose(ranker.stats(idx, live), want, rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_row_columns_match_their_definitions(seed: int) -> None:
    from reelrec.features.definitions import VideoArrays, context_of
    from reelrec.features.history import HistoryWindow
    from reelrec.ranking.features import RankerInputs, build_inputs

    rng = np.random.default_rng(seed)
    n, users, length, rows, dim = 9, 3, 4, 20, 5
    upload = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0, 1e6, n))
    catalog = VideoArrays(
        video_idx=np.arange(n), creator_idx=rng.integers(-1, 3, n),
        tags=rng.integers(0, 3, (n, 2)), duration_bucket=rng.integers(0, 8, n),
        upload_seconds=upload, title=np.zeros((n, 1), np.int64),
        vectors=np.zeros((n, 0), np.float32), unsafe=np.zeros(n, bool),
    )  # fmt: skip
    video = rng.integers(-1, n, (users, length))
    dwell = rng.uniform(0, 3, (users, length)).astype(np.float32)
    at = np.where(rng.random(users) < 0.3, np.nan, rng.uniform(5e5, 2e6, users))
    x = RankerInputs(
        user_vec=rng.standard_normal((users, dim)).astype(np.float32),
        window=HistoryWindow(video=video, dwell=dwell, liked=np.zeros_like(dwell)),
        at_seconds=at, row_user=rng.integers(0, users, rows),
        cand=rng.integers(0, n + 2, rows),  # beyond the catalogue: ingested videos
        item_vec=rng.standard_normal((rows, dim)).astype(np.float32),
        stats=rng.random((rows, 6)),
    )  # fmt: skip
    got = build_inputs(x, catalog, n_tags=2)
    u, v = x.user_vec[x.row_user], x.item_vec
    np.testing.assert_allclose(got[:, 0], (u * v).sum(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[:, 1 : 1 + dim], u * v)
    np.testing.assert_array_equal(got[:, 1 + dim : 1 + 2 * dim], v)
    c = 1 + 2 * dim
    inside = x.cand < n
    up = np.where(inside, upload[np.minimum(x.cand, n - 1)], np.nan)
    age = (at[x.row_user] - up) / 3600.0
    known = ~np.isnan(age)
    want_age = np.log1p(np.maximum(np.where(known, age, 0.0), 0.0)).astype(np.float32)
    np.testing.assert_allclose(got[:, c], want_age, rtol=1e-6)
    np.testing.assert_array_equal(got[:, c + 1], known)
    duration = np.where(inside, catalog.duration_bucket[np.minimum(x.cand, n - 1)], 0) / 8.0
    np.testing.assert_array_equal(got[:, c + 2], duration.astype(np.float32))
    np.testing.assert_array_equal(got[:, c + 3 : c + 9], x.stats.astype(np.float32))
    valid = video >= 0
    hour, weekday = context_of(at)
    timed = hour < 24
    mean_dwell = (dwell * valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    want_user = np.column_stack([
        np.log1p(valid.sum(axis=1)), mean_dwell,
        np.where(timed, np.sin(2 * np.pi * hour / 24), 0.0),
        np.where(timed, np.cos(2 * np.pi * hour / 24), 0.0),
        np.where(timed, np.sin(2 * np.pi * weekday / 7), 0.0),
        np.where(timed, np.cos(2 * np.pi * weekday / 7), 0.0), timed,
    ])[x.row_user]  # fmt: skip
    np.testing.assert_allclose(got[:, c + 9 : c + 16], want_user.astype(np.float32), rtol=1e-6)
