"""Feed simulator on the tiny world: determinism, session mechanics, feedback, policy ordering."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest

from reelrec.data.schema import INTERACTIONS, validate
from reelrec.evaluation.online_metrics import summarize
from reelrec.evaluation.simulation import SimulationSettings, simulate, simulate_ab
from reelrec.policies import PopularPolicy, RandomPolicy, ReelrecPolicy

SETTINGS = SimulationSettings(days=2, page_size=8, max_pages=6, seed=3)


class AffinityPolicy:
    """Serves each user's highest-affinity unseen videos under the world's own latents."""

    def __init__(self, truth) -> None:  # type: ignore[no-untyped-def]
        self.truth = truth
        self.served: dict[str, set[int]] = {}
        self.events: list[pl.DataFrame] = []

    def recommend(self, user_ids: Sequence[str], k: int, at_seconds: np.ndarray) -> list[list[str]]:
        t = self.truth
        scores = t.user_latent[t.user_index(list(user_ids))] @ t.video_latent.T
        feeds = []
        for row, user in enumerate(user_ids):
            seen = self.served.setdefault(user, set())
            top = [int(v) for v in np.argsort(-scores[row])[: k + len(seen)] if int(v) not in seen]
            seen.update(top[:k])
            feeds.append([str(t.video_ids[v]) for v in top[:k]])
        return feeds

    def observe(self, events: pl.DataFrame) -> None:
        self.events.append(events)


class SamePagePolicy:
    """Always the same page: everything after the first page is a repeat."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def recommend(self, user_ids: Sequence[str], k: int, at_seconds: np.ndarray) -> list[list[str]]:
        return [self.ids[:k] for _ in user_ids]


@pytest.fixture(scope="module")
def truth(tiny_world):  # type: ignore[no-untyped-def]
    return tiny_world.truth


def test_same_seed_same_log_and_other_seed_differs(truth) -> None:  # type: ignore[no-untyped-def]
    users = np.arange(60)
    a = simulate(truth, RandomPolicy(truth.video_ids.tolist(), seed=1), users, SETTINGS)
    b = simulate(truth, RandomPolicy(truth.video_ids.tolist(), seed=1), users, SETTINGS)
    assert a.equals(b)
    other = SimulationSettings(days=2, page_size=8, max_pages=6, seed=4)
    c = simulate(truth, RandomPolicy(truth.video_ids.tolist(), seed=1), users, other)
    assert not a.equals(c)


def test_sessions_are_well_formed(truth) -> None:  # type: ignore[no-untyped-def]
    log = simulate(truth, AffinityPolicy(truth), np.arange(80), SETTINGS)
    assert set(log.get_column("day").unique()) == {0, 1}
    per = log.group_by("session_id").agg(
        pl.col("position").sort().alias("pos"),
        pl.col("timestamp").diff().min().alias("min_gap"),
        pl.len().alias("n"),
    )
    assert per.get_column("n").max() <= SETTINGS.page_size * SETTINGS.max_pages
    assert all(p == list(range(len(p))) for p in per.get_column("pos").to_list())
    assert per.get_column("min_gap").drop_nulls().min() >= 1  # time moves on with every swipe
    skipped = log.filter(pl.col("skip"))
    assert skipped.get_column("watch_seconds").max() == 0.0
    engaged = skipped.select(pl.any_horizontal("liked", "shared", "commented", "followed"))
    assert not engaged.to_series().any()
    # a session starts near the user's active hour (peak ± a few hours, modulo 24)
    hours = (
        log.group_by("user_id").agg(pl.col("timestamp").min()).get_column("timestamp") % 86_400
    ) / 3600
    assert hours.min() >= 0
    assert hours.max() < 24


def test_repeats_are_skipped_and_sessions_end(truth) -> None:  # type: ignore[no-untyped-def]
    policy = SamePagePolicy(truth.video_ids[:10].astype(str).tolist())
    log = simulate(truth, policy, np.arange(50), SimulationSettings(max_pages=30, seed=0))
    repeats = log.filter(pl.col("repeat"))
    assert repeats.height > 0
    assert repeats.get_column("skip").all()
    # all-skip pages drive fatigue up: nobody scrolls all 30 pages of repeats
    assert log.group_by("session_id").len().get_column("len").max() < 300


def test_events_fed_back_follow_the_interactions_schema(truth) -> None:  # type: ignore[no-untyped-def]
    policy = AffinityPolicy(truth)
    log = simulate(truth, policy, np.arange(30), SimulationSettings(seed=0))
    events = pl.concat(policy.events)
    assert events.height == log.height
    assert events.get_column("event_id").n_unique() == events.height
    validate(events.drop("event_id"), INTERACTIONS, "simulated events")


def test_truth_aware_policy_beats_random(truth) -> None:  # type: ignore[no-untyped-def]
    users = np.arange(200)
    good = summarize(simulate(truth, AffinityPolicy(truth), users, SETTINGS))
    rand = summarize(simulate(truth, RandomPolicy(truth.video_ids.tolist()), users, SETTINGS))
    for metric in ("watch_time_per_session", "completion_rate", "ctr", "session_length"):
        assert good[metric].lo > rand[metric].hi, metric


def test_reelrec_policy_serves_no_repeats_and_feeds_back(truth, tiny_rec, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from reelrec.recommender import Recommender

    tiny_rec.save(tmp_path / "run")  # a private copy: feedback must not touch the shared fixture
    rec = Recommender.load(tmp_path / "run")
    reelrec = ReelrecPolicy(rec)
    policies = {"reelrec": reelrec, "popular": PopularPolicy.from_recommender(rec)}
    run = simulate_ab(truth, policies, users_per_variant=40, settings=SETTINGS)
    log = run.impressions
    assert set(log.get_column("variant").unique()) == {"reelrec", "popular"}
    assert not log.get_column("repeat").any()
    assert log.select(pl.struct("user_id", "video_id").is_duplicated().any()).item() is False
    assert set(run.users["reelrec"]).isdisjoint(run.users["popular"])
    n_reelrec = log.filter(pl.col("variant") == "reelrec").height
    assert reelrec.applied == n_reelrec  # every simulated event reached the online store


def test_http_policy_against_the_service(truth, tiny_rec, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import time
    import warnings

    with warnings.catch_warnings():  # starlette's TestClient warns about httpx on import
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from reelrec.policies import HttpPolicy
    from reelrec.serving.app import create_app

    tiny_rec.save(tmp_path / "run")
    with TestClient(create_app(tmp_path / "run")) as client:
        deadline = time.monotonic() + 60.0
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        policy = HttpPolicy("http://testserver", client=client)
        log = simulate(truth, policy, np.arange(10), SimulationSettings(max_pages=3, seed=0))
    assert log.height > 0
    assert not log.get_column("repeat").any()
