"""Towers: unit-norm outputs of the configured size, ablations, content-only item vectors."""

from __future__ import annotations

import pytest
import torch

from reelrec.config import ModelConfig
from reelrec.models.two_tower import TwoTower

SIZES: dict[str, object] = {
    "users": 50,
    "videos": 80,
    "creators": 10,
    "tags": 12,
    "text": 64,
    "duration": 7,
    "age": 6,
    "vectors": 4,
    "attributes": [3, 2],
}


def _inputs(b: int, n_hist: int = 5) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    user = {
        "user_idx": torch.randint(0, 50, (b,), generator=g),
        "hist_video": torch.randint(-1, 80, (b, n_hist), generator=g),
        "hist_dwell": torch.rand(b, n_hist, generator=g),
        "hist_liked": torch.zeros(b, n_hist),
        "hist_tags": torch.randint(0, 13, (9, 3), generator=g),
        "hist_creator": torch.randint(-1, 10, (9,), generator=g),
        "hist_content_row": torch.randint(0, 9, (b, n_hist), generator=g),
        "hour": torch.randint(0, 25, (b,), generator=g),
        "weekday": torch.randint(0, 8, (b,), generator=g),
        "attrs": torch.randint(0, 3, (b, 2), generator=g),
    }
    item = {
        "video_idx": torch.randint(0, 80, (b,), generator=g),
        "creator_idx": torch.randint(-1, 10, (b,), generator=g),
        "tags": torch.randint(0, 13, (b, 4), generator=g),
        "title": torch.randint(0, 65, (b, 6), generator=g),
        "duration_bucket": torch.randint(0, 9, (b,), generator=g),
        "age_bucket": torch.randint(0, 8, (b,), generator=g),
        "vectors": torch.randn(b, 4, generator=g),
    }
    return user, item


@pytest.mark.parametrize("dim", [64, 256])
def test_outputs_are_unit_vectors_of_configured_dim(dim: int) -> None:
    model = TwoTower(ModelConfig(dim=dim), SIZES)
    user, item = _inputs(7)
    u, v = model.encode_users(user), model.encode_items(item)
    assert u.shape == (7, dim)
    assert v.shape == (7, dim)
    assert torch.allclose(u.norm(dim=1), torch.ones(7), atol=1e-5)
    assert torch.allclose(v.norm(dim=1), torch.ones(7), atol=1e-5)


def test_id_only_ablation_reads_only_ids() -> None:
    cfg = ModelConfig(dim=8, user_features=["id"], item_features=["id"], hidden=[])
    model = TwoTower(cfg, SIZES)
    _, item = _inputs(3)
    base = model.encode_items(item)
    item["tags"] = torch.zeros_like(item["tags"])
    item["vectors"] = torch.randn(3, 4)
    assert torch.equal(model.encode_items(item), base)


def test_content_changes_vector_of_unknown_video() -> None:
    model = TwoTower(ModelConfig(dim=16), SIZES)
    _, item = _inputs(2)
    item["video_idx"] = torch.tensor([70, 70])  # the same OOV bucket for both
    item["tags"] = torch.tensor([[1, 2, 0, 0], [5, 6, 0, 0]])
    v = model.encode_items(item)
    assert not torch.allclose(v[0], v[1])


def test_empty_history_is_finite() -> None:
    model = TwoTower(ModelConfig(dim=16), SIZES)
    user, _ = _inputs(3)
    user["hist_video"] = torch.full((3, 5), -1)
    assert torch.isfinite(model.encode_users(user)).all()
