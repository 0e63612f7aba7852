"""Recommender: planted tastes, cold videos from content, determinism, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelrec.comparison import evaluate
from reelrec.errors import ArtifactError, IndexStateError, NotFittedError
from reelrec.evaluation import MostPopular
from reelrec.index.exact import ExactIndex
from reelrec.recommender import Recommender
from reelrec.run_files import save_index


def _mean_truth(world, rec, video_idx_rows: np.ndarray, users: list[str]) -> dict[str, float]:
    """Mean ground-truth affinity and expected watch ratio of feeds (planted answers)."""
    truth = world.truth
    u = np.repeat(truth.user_index(users), video_idx_rows.shape[1])
    ids = [rec.space_.videos.ids[i] for i in video_idx_rows.ravel()]
    expected = truth.expected(u, truth.video_index(ids))
    return {
        "affinity": float(expected["affinity"].mean()),
        "watch": float(expected["watch_ratio"].mean()),
    }


def test_planted_tastes_recovered_far_above_most_popular(tiny_world, tiny_rec) -> None:
    """Feeds score higher under the world's own response model than MostPopular's, same test."""
    users = tiny_rec.space_.users.ids[:200]
    ours, _ = tiny_rec.retrieve(tiny_rec.user_idx(users), 20)
    popular = MostPopular().fit(tiny_rec.seen_)
    theirs, _ = popular.recommend(np.arange(200), 20, exclude=tiny_rec.seen_[:200])
    a, b = (
        _mean_truth(tiny_world, tiny_rec, ours, users),
        _mean_truth(tiny_world, tiny_rec, theirs, users),
    )
    assert a["affinity"] > b["affinity"] + 0.1
    assert a["watch"] > b["watch"] * 1.1


def test_cold_videos_ranked_from_content(tiny_rec, tiny_split) -> None:
    """Videos without training interactions: only the content path can order them."""
    results = evaluate(tiny_rec, tiny_split[1], ks=(50,), baselines=["popular"])
    ours, popular = results["reelrec"], results["popular"]
    assert ours["auc"] > popular["auc"]
    assert ours["cold_pool/recall@50"] > 3 * popular["cold_pool/recall@50"]
    assert ours["cold_pool/auc"] > popular["cold_pool/auc"] + 0.2
    assert ours["cold_videos/recall@50"] >= popular["cold_videos/recall@50"]


def test_early_stopping_keeps_best_epoch(tiny_split, tiny_config) -> None:
    cfg = tiny_config.model_copy(
        update={
            "train": tiny_config.train.model_copy(update={"validation_users": 150, "epochs": 3})
        }
    )
    rec = Recommender.from_config(cfg).fit(tiny_split[0])
    history = rec.history_
    assert len(history.validation) == len(history.loss) >= 1
    assert history.validation[history.best_epoch] == max(history.validation)


def test_recommend_excludes_training_interactions(tiny_rec, tiny_split) -> None:
    train = tiny_split[0].interactions
    users = train["user_id"].unique(maintain_order=True).head(20).to_list()
    for slate in tiny_rec.recommend(users, k=30):
        seen = set(train.filter(train["user_id"] == slate.user_id)["video_id"].to_list())
        assert not seen & set(slate.video_ids)
        assert slate.scores == sorted(slate.scores, reverse=True)
        assert len(slate.video_ids) == 30
        assert slate.fallback is None


def test_unknown_user_gets_marked_feed(tiny_rec) -> None:
    slate = tiny_rec.recommend(["never-seen-user"], k=5)[0]
    assert len(slate.video_ids) == 5
    assert slate.fallback == "cold_user"


def test_save_load_same_feeds_and_index_guard(tiny_rec, tmp_path: Path) -> None:
    tiny_rec.save(tmp_path / "run")
    loaded = Recommender.load(tmp_path / "run")
    users = ["u000001", "u000002", "u000003"]
    assert [s.video_ids for s in loaded.recommend(users, 10)] == [
        s.video_ids for s in tiny_rec.recommend(users, 10)
    ]
    # An index built for another model version is refused at load.
    loaded.index_ = ExactIndex(model_version="other").build(
        np.arange(3), np.eye(3, tiny_rec.config.model.dim, dtype=np.float32)
    )
    save_index(loaded, tmp_path / "run")
    with pytest.raises(IndexStateError, match="model_version"):
        Recommender.load(tmp_path / "run")


def _mapped(values: np.ndarray) -> bool:
    """A plain read-only ndarray over a file mapping (np.memmap indexing costs Python hooks)."""
    return (
        type(values) is np.ndarray
        and not values.flags.writeable
        and isinstance(values.base, np.memmap)
    )


def test_catalogue_and_rules_table_are_saved_memory_mapped_and_equal(tiny_rec, tmp_path) -> None:
    run = tiny_rec.save(tmp_path / "run")
    loaded = Recommender.load(run)
    assert _mapped(loaded.catalog_.tags)  # opened, not read: start-up at 1M
    for name in tiny_rec.catalog_.__dataclass_fields__:
        np.testing.assert_array_equal(
            getattr(loaded.catalog_, name), getattr(tiny_rec.catalog_, name)
        )
    table, fresh = loaded.video_table_, tiny_rec.video_table()
    assert table is not None
    assert _mapped(table.vectors)
    assert loaded.video_table() is table  # served as saved, never rebuilt
    for name in fresh.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(table, name), getattr(fresh, name))


def test_runs_with_the_older_npz_catalogue_still_load(tiny_rec, tmp_path) -> None:
    import shutil

    run = tiny_rec.save(tmp_path / "run")
    folder = run / "features" / "catalog"
    fields = {f.stem: np.load(f) for f in folder.glob("*.npy")}
    np.savez(run / "features" / "catalog.npz", **fields)
    shutil.rmtree(folder)
    shutil.rmtree(run / "rules")
    loaded = Recommender.load(run)
    users = ["u000001", "u000002"]
    assert [s.video_ids for s in loaded.recommend(users, 10)] == [
        s.video_ids for s in tiny_rec.recommend(users, 10)
    ]


def test_a_partly_written_catalogue_is_refused_naming_it(tiny_rec, tmp_path) -> None:
    run = tiny_rec.save(tmp_path / "run")
    np.save(run / "features" / "catalog" / "unsafe.npy", np.zeros(3, dtype=bool))
    with pytest.raises(ArtifactError, match=r"catalog.*disagree on the number of videos"):
        Recommender.load(run)


def test_not_fitted(tiny_config) -> None:
    with pytest.raises(NotFittedError):
        Recommender.from_config(tiny_config).recommend(["u1"], 5)


def test_deterministic_for_a_seed(tiny_split, tiny_config, tiny_rec) -> None:
    again = Recommender.from_config(tiny_config).fit(tiny_split[0])
    assert again.model_version_ == tiny_rec.model_version_
