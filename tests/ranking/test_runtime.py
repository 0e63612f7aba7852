"""The NumPy runtime matches the torch ranker, and survives a save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reelrec.ranking.model import HEADS, MultiTaskRanker
from reelrec.ranking.runtime import RankerRuntime


def _model(n_inputs: int = 7, seed: int = 0) -> MultiTaskRanker:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    mean, std = rng.normal(size=n_inputs), rng.uniform(0.5, 2.0, size=n_inputs)
    model = MultiTaskRanker(n_inputs, [8, 4], mean, std)
    model.eval()
    return model


def test_numpy_runtime_matches_torch() -> None:
    model = _model()
    runtime = RankerRuntime.from_torch(
        model, available=np.ones(4, bool), head_weights=np.ones(4), watch_cap=3.0
    )
    x = np.random.default_rng(1).normal(size=(50, 7)).astype(np.float32)
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.from_numpy(x))).numpy()
    expected[:, 0] *= 3.0
    np.testing.assert_allclose(runtime.heads(x), expected, rtol=1e-5, atol=1e-6)


def test_save_load_round_trip(tmp_path: Path) -> None:
    runtime = RankerRuntime.from_torch(
        _model(), available=np.array([True, False, True, True]),
        head_weights=np.array([1.0, 2.0, 0.5, 1.0]), watch_cap=2.0,
    )  # fmt: skip
    runtime.save(tmp_path)
    back = RankerRuntime.load(tmp_path)
    x = np.random.default_rng(2).normal(size=(9, 7)).astype(np.float32)
    np.testing.assert_array_equal(back.heads(x), runtime.heads(x))
    np.testing.assert_array_equal(back.available, runtime.available)
    assert back.score(x)[0].shape == (9,)
    assert len(HEADS) == back.heads(x).shape[1]
