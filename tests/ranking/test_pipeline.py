"""The retrieve → rank → rules pipeline of ``Recommender.recommend`` on the tiny world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelrec.recommender import Recommender

STAGE_TIMINGS = {"user_tower", "ann", "features", "ranking", "rules"}


@pytest.fixture(scope="module")
def users(tiny_rec) -> list[str]:  # type: ignore[no-untyped-def]
    return [*list(tiny_rec.space_.users.ids[:5]), "never_seen_user"]


def test_feeds_have_at_most_k_unseen_items_and_fill_timings(tiny_rec, users) -> None:  # type: ignore[no-untyped-def]
    timings: dict[str, float] = {}
    slates = tiny_rec.recommend(users, k=7, timings=timings)
    assert len(slates) == len(users)
    for slate, user in zip(slates, users, strict=True):
        assert slate.user_id == user
        assert 0 < len(slate.video_ids) <= 7
        assert len(set(slate.video_ids)) == len(slate.video_ids)
        assert len(slate.reasons) == len(slate.video_ids)
        assert all("ranked" in r for r in slate.reasons)
        idx = tiny_rec.space_.videos.encode(slate.video_ids)
        own = tiny_rec.user_idx([user])[0]
        assert not np.isin(idx, tiny_rec.seen_row(int(own))).any()
    assert slates[-1].fallback == "cold_user"
    assert slates[0].fallback is None
    assert set(timings) >= STAGE_TIMINGS
    assert all(v >= 0 for v in timings.values())


def test_stages_switch_rank_and_rules_off(tiny_rec, users) -> None:  # type: ignore[no-untyped-def]
    retrieval = tiny_rec.recommend(users, k=10, stages=("retrieve",))
    idx = tiny_rec.user_idx(users)
    videos, _scores = tiny_rec.retrieve(idx, 10)
    for row, slate in enumerate(retrieval):
        assert slate.reasons == [["retrieval"]] * len(slate.video_ids)
        expected = [tiny_rec.space_.videos.ids[v] for v in videos[row] if v >= 0]
        assert slate.video_ids == expected
    timings: dict[str, float] = {}
    ranked = tiny_rec.recommend(users, k=10, stages=("retrieve", "rank"), timings=timings)
    assert "rules" not in timings
    rank_scores, _ = tiny_rec.rank(idx, videos[:, :1])
    for slate in ranked:
        assert slate.reasons == [["retrieval", "ranked"]] * len(slate.video_ids)
        assert slate.scores == sorted(slate.scores, reverse=True)
    assert np.isfinite(rank_scores).all()


def test_exclude_removes_videos(tiny_rec, users) -> None:  # type: ignore[no-untyped-def]
    first = tiny_rec.recommend(users[:1], k=5, stages=("retrieve", "rank"))[0]
    again = tiny_rec.recommend(
        users[:1], k=5, stages=("retrieve", "rank"), exclude=[first.video_ids[:2]]
    )[0]
    assert not set(first.video_ids[:2]) & set(again.video_ids)


def test_rank_shapes_and_padding(tiny_rec) -> None:  # type: ignore[no-untyped-def]
    scores, heads = tiny_rec.rank(np.array([0, 1]), np.array([[3, 4, -1], [5, -1, -1]]))
    assert scores.shape == (2, 3)
    assert heads.shape == (2, 3, 4)
    assert np.isneginf(scores[0, 2])
    assert np.isnan(heads[1, 1]).all()
    assert np.isfinite(scores[0, :2]).all()


def test_similar_excludes_the_query_video(tiny_rec) -> None:  # type: ignore[no-untyped-def]
    query = tiny_rec.space_.videos.ids[:3]
    slates = tiny_rec.similar([*query, "no_such_video"], k=4)
    for vid, slate in zip(query, slates[:3], strict=True):
        assert len(slate.video_ids) == 4
        assert vid not in slate.video_ids
    assert slates[-1].fallback == "unknown_video"
    assert slates[-1].video_ids == []


def test_ranker_survives_save_and_load(tiny_rec, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tiny_rec.save(tmp_path / "run")
    back = Recommender.load(tmp_path / "run")
    idx, cand = np.array([0, 2]), np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_allclose(back.rank(idx, cand)[0], tiny_rec.rank(idx, cand)[0], rtol=1e-5)
    assert (tmp_path / "run" / "ranking" / "ranker.npz").is_file()


def test_disabled_ranker_falls_back_to_retrieval_order(tiny_config, tiny_split) -> None:  # type: ignore[no-untyped-def]
    cfg = tiny_config.model_copy(
        update={
            "ranking": tiny_config.ranking.model_copy(update={"enabled": False}),
            "train": tiny_config.train.model_copy(update={"epochs": 1}),
        }
    )
    rec = Recommender.from_config(cfg).fit(tiny_split[0])
    assert rec.ranker_ is None
    slate = rec.recommend([rec.space_.users.ids[0]], k=5, stages=("retrieve", "rank"))[0]
    assert slate.reasons == [["retrieval"]] * 5
