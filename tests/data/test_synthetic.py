"""The synthetic world: schema, determinism, persistence, time rules, slices and planted signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelrec.data.readers import read_dataset
from reelrec.data.schema import INTERACTIONS, USERS, VIDEOS, validate
from reelrec.data.synthetic import (
    SIZES,
    GroundTruth,
    World,
    WorldSize,
    load_truth,
    make_world,
    write_world,
)
from reelrec.errors import ConfigError, DataError, UnknownIdError


@pytest.fixture(scope="module")
def world() -> World:
    return make_world("tiny", seed=0)


@pytest.fixture(scope="module")
def pairs(world: World) -> tuple[np.ndarray, np.ndarray]:
    """(user index, video index) of every logged impression."""
    it = world.dataset.interactions
    return world.truth.user_index(it["user_id"]), world.truth.video_index(it["video_id"])


def _times(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame[column].dt.epoch("s").to_numpy()


def test_sizes_match_the_brief() -> None:
    tiny, small, full = SIZES["tiny"], SIZES["small"], SIZES["full"]
    assert 300 <= tiny.n_users <= 800
    assert 2_000 <= tiny.n_videos <= 5_000
    assert small.n_interactions == 1_000_000
    assert full.n_videos == 1_000_000
    assert full.n_interactions >= 10_000_000
    with pytest.raises(ConfigError, match="unknown world size"):
        make_world("huge")
    odd = WorldSize(name="x", n_users=5, n_videos=9, n_creators=2, n_interactions=9, n_topics=99)
    with pytest.raises(ConfigError, match="n_topics"):
        make_world(odd)


def test_frames_pass_the_schema_unchanged(world: World) -> None:
    ds = world.dataset
    for frame, table in ((ds.interactions, INTERACTIONS), (ds.videos, VIDEOS), (ds.users, USERS)):
        assert validate(frame, table, table.file_name).equals(frame)
    assert 20_000 <= ds.interactions.height <= 50_000
    assert ds.videos["visual_vector"].list.len().unique().to_list() == [16]


def test_deterministic_for_a_seed(world: World) -> None:
    again, other = make_world("tiny", seed=0), make_world("tiny", seed=1)
    for name in ("interactions", "videos", "users"):
        assert getattr(again.dataset, name).equals(getattr(world.dataset, name))
    assert np.array_equal(again.truth.video_latent, world.truth.video_latent)
    assert not other.dataset.interactions.equals(world.dataset.interactions)
    assert not np.array_equal(other.truth.user_latent, world.truth.user_latent)


def test_written_files_are_byte_identical(world: World, tmp_path: Path) -> None:
    first = write_world(world, tmp_path / "a")
    second = write_world(make_world("tiny", seed=0), tmp_path / "b")
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert Path("interactions.parquet") in files
    assert Path("truth/params.json") in files
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_write_read_round_trip(world: World, tmp_path: Path) -> None:
    back = read_dataset(write_world(world, tmp_path / "world"))
    assert back.interactions.equals(world.dataset.interactions)
    assert back.videos.equals(world.dataset.videos)
    assert back.users.equals(world.dataset.users)


def test_load_truth_reproduces_expected(world: World, tmp_path: Path) -> None:
    loaded = load_truth(write_world(world, tmp_path / "world"))
    rng = np.random.default_rng(3)
    u = rng.integers(0, world.truth.n_users, 2_000)
    v = rng.integers(0, world.truth.n_videos, 2_000)
    before, after = world.truth.expected(u, v), loaded.expected(u, v)
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert np.array_equal(value, after[key]), key
    assert loaded.response == world.truth.response
    assert np.array_equal(loaded.video_ids, world.truth.video_ids)
    assert np.array_equal(loaded.video_duplicate_of, world.truth.video_duplicate_of)
    assert loaded.cold_cutoff == world.truth.cold_cutoff
    assert loaded.topics == world.truth.topics


def test_failed_write_leaves_nothing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: GroundTruth, folder: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(GroundTruth, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        write_world(world, tmp_path / "world")
    assert list(tmp_path.iterdir()) == []


def test_load_truth_without_truth_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="params.json"):
        load_truth(tmp_path)


def test_never_shown_before_upload_or_signup(world: World) -> None:
    ds = world.dataset
    joined = ds.interactions.join(ds.videos, on="video_id").join(ds.users, on="user_id")
    t = _times(joined, "timestamp")
    assert (t >= _times(joined, "upload_timestamp")).all()
    assert (t >= _times(joined, "signup_timestamp")).all()
    assert (t >= world.truth.span_start).all()
    assert (t < world.truth.span_end).all()
    assert (joined["video_seconds"] == joined["duration_seconds"]).all()


def test_each_user_sees_a_video_at_most_once(world: World) -> None:
    assert not world.dataset.interactions.select("user_id", "video_id").is_duplicated().any()


def test_cold_users_and_videos_appear_only_late(
    world: World, pairs: tuple[np.ndarray, np.ndarray]
) -> None:
    truth, (u, v) = world.truth, pairs
    t = _times(world.dataset.interactions, "timestamp")
    assert np.array_equal(truth.user_cold, truth.user_signup >= truth.cold_cutoff)
    assert np.array_equal(truth.video_cold, truth.video_upload >= truth.cold_cutoff)
    assert truth.user_cold[u].any()
    assert truth.video_cold[v].any()
    assert (t[truth.user_cold[u]] >= truth.cold_cutoff).all()
    assert (t[truth.video_cold[v]] >= truth.cold_cutoff).all()
    assert (t[~truth.user_cold[u]] < truth.cold_cutoff).any()
    assert 0.05 < truth.user_cold.mean() < 0.2
    assert 0.05 < truth.video_cold.mean() < 0.2


def test_near_duplicates_copy_an_earlier_video(world: World) -> None:
    truth, videos = world.truth, world.dataset.videos
    dup = np.flatnonzero(truth.video_duplicate_of >= 0)
    orig = truth.video_duplicate_of[dup]
    assert 0.015 < len(dup) / truth.n_videos < 0.035
    cosine = np.sum(truth.video_latent[dup] * truth.video_latent[orig], axis=1)
    assert cosine.min() > 0.9
    assert (truth.video_upload[dup] >= truth.video_upload[orig]).all()
    assert videos["title"].gather(dup).equals(videos["title"].gather(orig))
    assert (truth.video_creator[dup] != truth.video_creator[orig]).mean() > 0.4


def test_unsafe_share_near_target(world: World) -> None:
    share = world.dataset.videos["unsafe"].mean()
    assert share is not None
    assert 0.008 <= share <= 0.015
    assert np.array_equal(world.dataset.videos["unsafe"].to_numpy(), world.truth.video_unsafe)


def test_popularity_is_heavy_tailed(world: World, pairs: tuple[np.ndarray, np.ndarray]) -> None:
    counts = np.sort(np.bincount(pairs[1], minlength=world.truth.n_videos))[::-1]
    assert counts[: len(counts) // 10].sum() > 0.4 * counts.sum()


def test_tags_and_titles_reveal_the_topic(world: World) -> None:
    truth = world.truth
    tags = world.dataset.videos["tags"].to_list()
    topic_tags = [f"t{k:02d}_{truth.topics[k]}" for k in truth.topic_of(np.arange(truth.n_videos))]
    assert np.mean([tag in row for tag, row in zip(topic_tags, tags, strict=True)]) > 0.75


def test_watch_ratio_tracks_affinity(world: World, pairs: tuple[np.ndarray, np.ndarray]) -> None:
    it = world.dataset.interactions
    ratio = (it["watch_seconds"] / it["video_seconds"]).to_numpy()
    affinity = world.truth.affinity(*pairs)
    played = ratio > 0
    assert np.corrcoef(affinity[played], ratio[played])[0, 1] > 0.3
    liked = it["liked"].to_numpy()
    high, low = affinity > np.quantile(affinity, 0.75), affinity < np.quantile(affinity, 0.25)
    assert liked[high].mean() > 2 * liked[low].mean()


def test_skips_and_engagement_rates(world: World) -> None:
    it = world.dataset.interactions
    skipped = (it["watch_seconds"] == 0).to_numpy()
    assert 0.1 < skipped.mean() < 0.5
    plays = int((~skipped).sum())
    rates = {flag: it[flag].sum() / plays for flag in ("liked", "shared", "commented", "followed")}
    assert 0.02 < rates["liked"] < 0.1
    assert max(rates["shared"], rates["commented"], rates["followed"]) < rates["liked"]
    engaged = it.select(pl.any_horizontal("liked", "shared", "commented", "followed"))
    assert not (engaged.to_series().to_numpy() & skipped).any()
    assert (it["watch_seconds"] / it["video_seconds"]).max() > 1.0  # rewatches


def test_sample_means_match_expected(world: World) -> None:
    truth = world.truth
    rng = np.random.default_rng(7)
    u = np.repeat(rng.integers(0, truth.n_users, 40), 5_000)
    v = np.repeat(rng.integers(0, truth.n_videos, 40), 5_000)
    drawn, expected = truth.sample(u, v, rng), truth.expected(u, v)
    for got, want in (("watch_ratio", "watch_ratio"), ("skip", "p_play"), ("liked", "p_like")):
        mean = drawn[got].reshape(40, -1).mean(axis=1)
        target = expected[want].reshape(40, -1)[:, 0]
        target = 1.0 - target if got == "skip" else target
        assert np.abs(mean - target).max() < 0.04, got


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300))
def test_sample_invariants(world: World, seed: int, n: int) -> None:
    truth, rng = world.truth, np.random.default_rng(seed)
    u, v = rng.integers(0, truth.n_users, n), rng.integers(0, truth.n_videos, n)
    out = truth.sample(u, v, rng)
    assert (out["watch_ratio"][out["skip"]] == 0).all()
    assert (out["watch_ratio"] <= truth.response.ratio_cap).all()
    assert not (out["liked"] & out["skip"]).any()
    assert np.allclose(out["watch_seconds"], out["watch_ratio"] * truth.video_duration[v])
    exp = truth.expected(u, v)
    assert ((exp["p_play"] > 0) & (exp["p_play"] < 1)).all()
    assert (exp["p_like"] <= exp["p_play"]).all()


def test_id_lookups(world: World) -> None:
    truth = world.truth
    ids = world.dataset.users["user_id"].head(5)
    assert truth.user_index(ids).tolist() == [0, 1, 2, 3, 4]
    assert truth.video_ids[truth.video_index(["v0000007"])[0]] == "v0000007"
    with pytest.raises(UnknownIdError, match="nope"):
        truth.user_index(["nope"])
