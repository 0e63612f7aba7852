"""NumPy towers: parity with the PyTorch towers to 1e-5, for every input set and a fitted model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from safetensors.torch import save_file

from reelrec.config import ModelConfig
from reelrec.models.numpy_tower import NumpyTwoTower, item_arrays, user_arrays
from reelrec.models.two_tower import TwoTower
from tests.models.test_towers import SIZES

TOL = 1e-5


def _inputs(b: int, n_hist: int = 6) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    user = {
        "user_idx": rng.integers(-1, 50, b),
        "hist_video": rng.integers(-1, 80, (b, n_hist)),
        "hist_dwell": rng.random((b, n_hist), dtype=np.float32) * 3,
        "hist_liked": (rng.random((b, n_hist)) < 0.3).astype(np.float32),
        "hist_tags": rng.integers(0, 13, (9, 3)),
        "hist_creator": rng.integers(-1, 10, 9),
        "hist_content_row": rng.integers(0, 9, (b, n_hist)),
        "hour": rng.integers(0, 25, b),
        "weekday": rng.integers(0, 8, b),
        "attrs": rng.integers(0, 3, (b, 2)),
    }
    user["hist_video"][0] = -1  # an empty history: weights all zero
    item = {
        "video_idx": rng.integers(-1, 80, b),
        "creator_idx": rng.integers(-1, 10, b),
        "tags": rng.integers(0, 13, (b, 4)),
        "title": rng.integers(0, 65, (b, 6)),
        "duration_bucket": rng.integers(0, 9, b),
        "age_bucket": rng.integers(0, 8, b),
        "vectors": rng.standard_normal((b, 4), dtype=np.float32),
    }
    return user, item


def _torch(x: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in x.items()}


def _perturbed(cfg: ModelConfig) -> TwoTower:
    """A model whose every weight (biases, dwell coefficients, pad rows aside) is non-trivial."""
    torch.manual_seed(0)
    model = TwoTower(cfg, SIZES, sparse=False).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embedding" not in name:
                p.add_(torch.randn_like(p) * 0.3)
    return model


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(dim=16, embedding_dim=8, hidden=[32]),
        ModelConfig(dim=8, embedding_dim=8, hidden=[16, 12], dropout=0.2),
        ModelConfig(dim=8, embedding_dim=8, hidden=[], item_features=["id"], user_features=["id"]),
        ModelConfig(
            dim=8,
            embedding_dim=4,
            user_features=["history", "context"],
            item_features=["creator", "tags", "title", "duration", "age", "vectors"],
        ),
    ],
    ids=["default", "deep-dropout", "id-only", "content-only"],
)
def test_numpy_towers_match_torch(cfg: ModelConfig) -> None:
    model = _perturbed(cfg)
    fast = NumpyTwoTower.from_torch(model)
    user, item = _inputs(11)
    with torch.no_grad():
        want_u = model.encode_users(_torch(user)).numpy()
        want_v = model.encode_items(_torch(item)).numpy()
    got_u, got_v = fast.encode_users(user), fast.encode_items(item)
    assert got_u.dtype == got_v.dtype == np.float32
    np.testing.assert_allclose(got_u, want_u, atol=TOL, rtol=0)
    np.testing.assert_allclose(got_v, want_v, atol=TOL, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(got_u, axis=1), 1.0, atol=TOL)


def test_state_read_from_safetensors_without_torch_modules(tmp_path: Path) -> None:
    model = _perturbed(ModelConfig(dim=16, embedding_dim=8))
    save_file(model.state_dict(), str(tmp_path / "model.safetensors"))
    fast = NumpyTwoTower.from_state(load_file(str(tmp_path / "model.safetensors")))
    user, item = _inputs(5)
    with torch.no_grad():
        np.testing.assert_allclose(
            fast.encode_users(user), model.encode_users(_torch(user)).numpy(), atol=TOL, rtol=0
        )
        np.testing.assert_allclose(
            fast.encode_items(item), model.encode_items(_torch(item)).numpy(), atol=TOL, rtol=0
        )


def test_parity_on_a_fitted_model_and_real_histories(tiny_rec) -> None:  # type: ignore[no-untyped-def]
    rec = tiny_rec
    fast = NumpyTwoTower.from_torch(rec.model_)
    users = np.arange(min(64, rec.space_.users.n_known), dtype=np.int64)
    window = rec.log_.latest(users, rec.config.features.history_length)
    at = np.full(users.shape, rec.space_.reference_seconds)
    x = user_arrays(users, window, at, rec.user_attrs_[users], rec.catalog_)
    rows = np.arange(min(300, len(rec.catalog_)))
    v = item_arrays(rec.space_, rec.catalog_.take(rows), rec.space_.reference_seconds)
    with torch.no_grad():
        want_u = rec.model_.encode_users(_torch(x)).numpy()
        want_v = rec.model_.encode_items(_torch(v)).numpy()
    np.testing.assert_allclose(fast.encode_users(x), want_u, atol=TOL, rtol=0)
    np.testing.assert_allclose(fast.encode_items(v), want_v, atol=TOL, rtol=0)


def test_request_histories_skip_the_dedupe_with_identical_vectors(tiny_rec, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import reelrec.models.numpy_tower as module

    rec = tiny_rec
    fast = NumpyTwoTower.from_torch(rec.model_)
    users = np.arange(min(64, rec.space_.users.n_known), dtype=np.int64)
    window = rec.log_.latest(users, rec.config.features.history_length)
    at = np.full(users.shape, rec.space_.reference_seconds)
    out = {}
    for threshold in (0, 10**9):  # content per distinct video, then per history cell
        monkeypatch.setattr(module, "DEDUPE_ABOVE", threshold)
        x = user_arrays(users, window, at, rec.user_attrs_[users], rec.catalog_)
        out[threshold] = fast.encode_users(x)
    assert x["hist_tags"].shape[0] == window.video.size  # the per-cell path was taken
    np.testing.assert_array_equal(out[0], out[10**9])
