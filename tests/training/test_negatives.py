"""Negative sampling and logQ estimates: streaming estimator convergence, units, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from reelrec.errors import ArtifactError, ConfigError, DataError
from reelrec.training.negatives import (
    StreamingFrequencyEstimator,
    sample_uniform_negatives,
    static_log_q,
    uniform_log_q,
)

N_ITEMS, BATCH = 1000, 256


def zipf(n: int = N_ITEMS) -> torch.Tensor:
    p = 1.0 / torch.arange(1, n + 1, dtype=torch.float64)
    return p / p.sum()


def feed(est: StreamingFrequencyEstimator, steps: int, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    p = zipf()
    for step in range(steps):
        est.update(torch.multinomial(p, BATCH, replacement=True, generator=g), step)


def relative_error(est: StreamingFrequencyEstimator) -> torch.Tensor:
    truth = BATCH * zipf()  # expected occurrences per batch
    return (est.probability(torch.arange(N_ITEMS)).double() / truth - 1).abs()


def test_streaming_estimate_converges_to_expected_count_per_batch() -> None:
    est = StreamingFrequencyEstimator(n_buckets=2**16, n_hashes=2, alpha=0.01, seed=0)
    feed(est, steps=1500)
    assert relative_error(est)[:20].max() < 0.10
    # Same units as the static estimate from true counts: log expected count per batch.
    static = static_log_q(zipf() * 1e6, BATCH)
    torch.testing.assert_close(est.log_q(torch.arange(10)), static[:10], atol=0.1, rtol=0)


def test_more_hashes_beat_collisions_with_few_buckets() -> None:
    errors = {}
    for n_hashes in (1, 4):
        est = StreamingFrequencyEstimator(n_buckets=512, n_hashes=n_hashes, alpha=0.01, seed=0)
        feed(est, steps=600)
        errors[n_hashes] = relative_error(est).median().item()
    assert errors[4] < 0.5 * errors[1]


def test_duplicates_within_a_step_count_but_update_once() -> None:
    # Item 5: three times every step; item 9: every 2nd step; item 11: every 4th step.
    est = StreamingFrequencyEstimator(n_buckets=4096, alpha=0.1)
    for step in range(400):
        items = [5, 5, 5] + [9] * (step % 2 == 0) + [11] * (step % 4 == 0)
        est.update(torch.tensor(items), step)
    p = est.probability(torch.tensor([5, 9, 11]))
    torch.testing.assert_close(p, torch.tensor([3.0, 0.5, 0.25]), rtol=1e-3, atol=0)


def test_unseen_items_get_a_small_finite_log_q() -> None:
    est = StreamingFrequencyEstimator(n_buckets=1 << 12, min_probability=1e-6)
    assert est.probability(torch.tensor([1, 2])).tolist() == pytest.approx([1e-6, 1e-6])
    est.update(torch.tensor([1]), step=0)
    log_q = est.log_q(torch.tensor([1, 2]))
    assert torch.isfinite(log_q).all()
    assert log_q.tolist() == pytest.approx([0.0, math.log(1e-6)], abs=1e-5)


def test_steps_must_not_decrease() -> None:
    est = StreamingFrequencyEstimator(n_buckets=64)
    est.update(torch.tensor([1]), step=5)
    est.update(torch.tensor([1]), step=5)
    with pytest.raises(DataError, match="global step"):
        est.update(torch.tensor([1]), step=4)
    with pytest.raises(ConfigError):
        StreamingFrequencyEstimator(alpha=0.0)


def test_state_dict_round_trip() -> None:
    est = StreamingFrequencyEstimator(n_buckets=1 << 12, n_hashes=3, seed=7)
    feed(est, steps=30)
    restored = StreamingFrequencyEstimator(n_buckets=1 << 12, n_hashes=3, seed=7)
    restored.load_state_dict(est.state_dict())
    items = torch.arange(N_ITEMS)
    torch.testing.assert_close(restored.probability(items), est.probability(items))
    for e in (est, restored):
        e.update(torch.tensor([3, 3, 500]), step=30)
    torch.testing.assert_close(restored.probability(items), est.probability(items))
    with pytest.raises(DataError):
        restored.update(torch.tensor([1]), step=29)
    with pytest.raises(ArtifactError, match="same settings"):
        StreamingFrequencyEstimator(n_buckets=1 << 12, n_hashes=3, seed=8).load_state_dict(
            est.state_dict()
        )


def test_hashing_is_deterministic_per_seed() -> None:
    items = torch.arange(200)
    a, b = (StreamingFrequencyEstimator(n_buckets=1 << 10, seed=3) for _ in range(2))
    c = StreamingFrequencyEstimator(n_buckets=1 << 10, seed=4)
    for e in (a, b, c):
        e.update(items[:50], step=0)
    assert torch.equal(a.probability(items), b.probability(items))
    assert not torch.equal(a.gap_avg, c.gap_avg)


def test_static_log_q_is_log_expected_count_per_batch() -> None:
    got = static_log_q(torch.tensor([1, 3, 0, 4]), batch_size=4)
    # total 8; the zero count is floored at 1.
    expected = torch.log(torch.tensor([4 * 1 / 8, 4 * 3 / 8, 4 * 1 / 8, 4 * 4 / 8]))
    torch.testing.assert_close(got, expected)
    with pytest.raises(DataError, match="sum to 0"):
        static_log_q(torch.zeros(3), batch_size=4)
    with pytest.raises(DataError):
        static_log_q(torch.tensor([1, -1]), batch_size=4)


def test_uniform_log_q_and_sampler() -> None:
    assert uniform_log_q(1000, 10) == pytest.approx(math.log(0.01))
    with pytest.raises(ConfigError):
        uniform_log_q(0, 10)
    draw = sample_uniform_negatives(50, 20_000, torch.Generator().manual_seed(1))
    again = sample_uniform_negatives(50, 20_000, torch.Generator().manual_seed(1))
    assert draw.dtype == torch.int64
    assert draw.shape == (20_000,)
    assert torch.equal(draw, again)
    assert 0 <= draw.min() <= draw.max() < 50
    counts = torch.bincount(draw, minlength=50).double()
    # Expected count per item is m / N = 400, the unit uniform_log_q uses.
    assert (counts / 400 - 1).abs().max() < 0.25
