from __future__ import annotations

import numpy as np
import pytest

from reelrec.config import FeaturesConfig
from reelrec.features.definitions import FeatureSpace
from reelrec.rules import videos as videos_module
from reelrec.rules.videos import content_groups, duplicate_groups, video_table


def test_duplicate_groups_links_chains_above_the_threshold() -> None:
    v = np.array([[1, 0, 0], [0.96, 0.28, 0], [0.8, 0.6, 0], [0, 0, 1]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    # cos(0,1) = 0.96, cos(1,2) = 0.936, cos(0,2) = 0.8, 3 is orthogonal to all.
    assert duplicate_groups(v, 0.95).tolist() == [0, 0, 2, 3]
    assert duplicate_groups(v, 0.9).tolist() == [0, 0, 0, 3]


def test_ivf_range_search_agrees_with_exact_on_planted_reuploads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3000, 32)).astype(np.float32)
    originals = rng.choice(3000, 100, replace=False)
    copies = base[originals] + 0.05 * rng.standard_normal((100, 32)).astype(np.float32)
    v = np.concatenate([base, copies])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    exact = duplicate_groups(v, 0.98)
    assert (exact[3000:] == originals).all()  # every planted copy found, nothing else merged
    assert np.unique(exact).size == 3000
    monkeypatch.setattr(videos_module, "EXACT_MAX", 100)
    assert (duplicate_groups(v, 0.98) == exact).all()


def test_content_groups_ignore_rows_without_a_key() -> None:
    keys = np.array([[1, 2], [0, 0], [1, 2], [0, 0], [3, 4]])
    has = np.array([True, False, True, False, True])
    assert content_groups(keys, has).tolist() == [0, 1, 0, 3, 4]
    assert content_groups(keys).tolist() == [0, 1, 0, 1, 4]


def test_video_table_groups_the_synthetic_worlds_reuploads_by_content(tiny_world) -> None:  # type: ignore[no-untyped-def]
    data, truth = tiny_world.dataset, tiny_world.truth
    space = FeatureSpace.fit(FeaturesConfig(), data.interactions, data.videos, data.users)
    catalog = space.encode_videos(data.videos)  # rows in the world's video order
    n = len(catalog)
    vectors = np.eye(n, 4, dtype=np.float32) + 1.0
    table = video_table(catalog, vectors / np.linalg.norm(vectors, axis=1)[:, None], np.ones(n))
    reupload = np.flatnonzero(truth.video_duplicate_of >= 0)
    originals = truth.video_duplicate_of[reupload]
    assert (table.duplicate_group[reupload] == table.duplicate_group[originals]).all()
    in_groups = np.bincount(table.duplicate_group, minlength=n)[table.duplicate_group] > 1
    assert in_groups.sum() <= 2 * reupload.size  # no false groups beyond originals + copies
    assert table.unsafe.tolist() == truth.video_unsafe.tolist()
    assert (table.tag_idx >= -1).all()
    assert table.tag_idx.shape[0] == n
