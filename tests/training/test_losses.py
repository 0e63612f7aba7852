"""InfoNCE switches: hand-derived cases, parity with torch, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch.nn.functional import cross_entropy

from reelrec.errors import ConfigError, DataError, TrainingError
from reelrec.training.losses import (
    Temperature,
    append_negatives,
    apply_logq,
    apply_temperature,
    diagonal_cross_entropy,
    in_batch_logits,
    info_nce,
    mask_accidental_hits,
)

E = math.e
EYE2 = torch.eye(2, dtype=torch.float64)


def t(x: object) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def idx(x: object) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.int64)


def test_info_nce_2x2_by_hand() -> None:
    # logits = I. Row 0: logsumexp(1, 0) − 1 = log(e + 1) − 1 = log(1 + e⁻¹) = 0.3132617;
    # row 1 is the same by symmetry, so the mean is 0.3132617.
    loss = info_nce(EYE2, EYE2, idx([0, 1]), temperature=1.0)
    assert loss.item() == pytest.approx(math.log(1 + 1 / E))
    assert loss.item() == pytest.approx(0.3132617, abs=1e-7)


def test_info_nce_3x3_by_hand() -> None:
    # u = [1,0], [0,1], [1,1]; v = [1,0], [0,1], [1,−1]  →  logits (target on the diagonal):
    #   row 0: [1, 0, 1]   logsumexp = log(2e + 1)      = 1.8619948, − 1 → 0.8619948
    #   row 1: [0, 1, −1]  logsumexp = log(1 + e + e⁻¹) = 1.4076060, − 1 → 0.4076060
    #   row 2: [1, 1, 0]   logsumexp = log(2e + 1)      = 1.8619948, − 0 → 1.8619948
    # mean = (0.8619948 + 0.4076060 + 1.8619948) / 3 = 1.0438652
    u = t([[1, 0], [0, 1], [1, 1]])
    v = t([[1, 0], [0, 1], [1, -1]])
    loss = info_nce(u, v, idx([0, 1, 2]), temperature=1.0)
    assert loss.item() == pytest.approx(1.0438652, abs=1e-7)


def test_temperature_divides() -> None:
    # τ = 0.5 turns I into 2I: each row is log(1 + e⁻²) = 0.1269280.
    assert info_nce(EYE2, EYE2, idx([0, 1]), temperature=0.5).item() == pytest.approx(0.1269280)
    tau = torch.tensor(0.5, requires_grad=True)
    apply_temperature(torch.ones(2, 2), tau).sum().backward()
    assert tau.grad is not None
    assert tau.grad.item() == pytest.approx(-16.0)  # d/dτ Σ 1/τ = −4/τ²
    with pytest.raises(ConfigError, match="temperature"):
        apply_temperature(torch.ones(2, 2), 0.0)


def test_logq_sign_moves_argmax_to_less_popular_item() -> None:
    # Raw scores favour the popular item 0 (2.0 vs 1.5). log q = [1, −1]: s − log q gives
    # [1.0, 2.5], so the rarer item 1 wins. The wrong sign (s + log q) would give [3.0, 0.5].
    corrected = apply_logq(t([[2.0, 1.5]]), t([1.0, -1.0]))
    assert corrected.tolist() == [[1.0, 2.5]]
    assert corrected.argmax().item() == 1


def test_info_nce_logq_by_hand() -> None:
    # u = diag(2, 1), v = I → logits [[2, 0], [0, 1]]; log q = [1, 0] (item 0 popular).
    #   row 0: [2 − 1, 0] = [1, 0]   → log(1 + e⁻¹) = 0.3132617
    #   row 1: [0 − 1, 1] = [−1, 1]  → log(1 + e⁻²) = 0.1269280
    # mean 0.2200948. The wrong sign would give [[3, 0], [1, 1]] → mean 0.3708673.
    u = t([[2, 0], [0, 1]])
    loss = info_nce(u, EYE2, idx([0, 1]), temperature=1.0, log_q=t([1.0, 0.0]))
    assert loss.item() == pytest.approx(0.2200948, abs=1e-7)


def test_logq_is_applied_after_temperature() -> None:
    # I / 0.5 = 2I, then − [1, 0]: [[1, 0], [−1, 2]] → (log(1 + e⁻¹) + log(1 + e⁻³)) / 2
    # = 0.1809245. LogQ before temperature would give ([0,0],[−2,2]) → 0.3556486.
    loss = info_nce(EYE2, EYE2, idx([0, 1]), temperature=0.5, log_q=t([1.0, 0.0]))
    assert loss.item() == pytest.approx(0.1809245, abs=1e-7)


def test_mask_accidental_hits_by_hand() -> None:
    # Items [7, 7, 9], all logits 0. Row 0 drops column 1, row 1 drops column 0:
    # (log 2 + log 2 + log 3) / 3 = 0.8283022; unmasked every row is log 3.
    zeros = torch.zeros(3, 2, dtype=torch.float64)
    items = idx([7, 7, 9])
    assert info_nce(zeros, zeros, items, temperature=1.0).item() == pytest.approx(0.8283022)
    unmasked = info_nce(zeros, zeros, items, temperature=1.0, mask_hits=False)
    assert unmasked.item() == pytest.approx(math.log(3))
    masked = mask_accidental_hits(torch.zeros(3, 3), items, items)
    assert torch.isfinite(masked).all()
    assert (masked < -1e30).tolist() == [[False, True, False], [True, False, False], [False] * 3]


def test_extra_negatives_with_own_correction() -> None:
    # u = I, one extra negative [1, 1] → extra column [1, 1]; neg log q = 1 makes it [0, 0].
    #   row 0: [1, 0 | 0] → log(e + 2) − 1 = 0.5514447 (row 1 symmetric).
    # Uncorrected it would be [1, 0 | 1] → log(2e + 1) − 1 = 0.8619948.
    neg = t([[1, 1]])
    kw = {"temperature": 1.0, "neg_emb": neg, "neg_idx": idx([5])}
    zero_q = t([0.0, 0.0])
    assert info_nce(EYE2, EYE2, idx([3, 4]), log_q=zero_q, neg_log_q=t([1.0]), **kw).item() == (
        pytest.approx(0.5514447, abs=1e-7)
    )
    assert info_nce(EYE2, EYE2, idx([3, 4]), log_q=zero_q, neg_log_q=1.0, **kw).item() == (
        pytest.approx(0.5514447, abs=1e-7)
    )
    assert info_nce(EYE2, EYE2, idx([3, 4]), **kw).item() == pytest.approx(0.8619948, abs=1e-7)
    # The extra negative is row 0's positive (id 3): row 0 → [1, 0] → log(1 + e⁻¹) = 0.3132617,
    # row 1 unchanged 0.5514447; mean 0.4323532.
    kw["neg_idx"] = idx([3])
    loss = info_nce(EYE2, EYE2, idx([3, 4]), log_q=zero_q, neg_log_q=t([1.0]), **kw)
    assert loss.item() == pytest.approx(0.4323532, abs=1e-7)


def test_weights_by_hand() -> None:
    # logits [[2, 0], [0, 1]]: rows log(1 + e⁻²) = 0.1269280 and log(1 + e⁻¹) = 0.3132617.
    # weights [3, 1] → (3·0.1269280 + 0.3132617) / 4 = 0.1735114; only ratios matter.
    u = t([[2, 0], [0, 1]])
    for w in ([3.0, 1.0], [6.0, 2.0]):
        loss = info_nce(u, EYE2, idx([0, 1]), temperature=1.0, weights=t(w))
        assert loss.item() == pytest.approx(0.1735114, abs=1e-7)
    with pytest.raises(DataError, match="weights"):
        info_nce(u, EYE2, idx([0, 1]), temperature=1.0, weights=t([0.0, 0.0]))


def test_parity_with_torch_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    B, M, D, tau = 16, 8, 12, 0.07
    u, v, neg = (torch.randn(n, D, generator=g) for n in (B, B, M))
    log_q, neg_log_q, w = torch.randn(B, generator=g), torch.randn(M, generator=g), torch.rand(B)
    ids = torch.randperm(1000, generator=g)[: B + M]
    loss = info_nce(
        u,
        v,
        ids[:B],
        temperature=tau,
        log_q=log_q,
        neg_emb=neg,
        neg_idx=ids[B:],
        neg_log_q=neg_log_q,
        weights=w,
    )
    logits = torch.cat([u @ v.T, u @ neg.T], 1) / tau - torch.cat([log_q, neg_log_q])
    ref = cross_entropy(logits, torch.arange(B), reduction="none")
    torch.testing.assert_close(loss, (w * ref).sum() / w.sum())
    plain = info_nce(u, v, ids[:B], temperature=tau)
    torch.testing.assert_close(plain, cross_entropy(u @ v.T / tau, torch.arange(B)))


def test_non_finite_loss_raises_training_error_with_remedy() -> None:
    u = torch.tensor([[float("nan"), 0.0], [0.0, 1.0]])
    with pytest.raises(TrainingError, match=r"user tower.*train\.learning_rate"):
        info_nce(u, torch.eye(2), idx([0, 1]), temperature=0.05)


def test_incompatible_switches_raise() -> None:
    neg = torch.ones(1, 2)
    with pytest.raises(ConfigError, match="neg_idx"):
        info_nce(torch.eye(2), torch.eye(2), idx([0, 1]), temperature=1.0, neg_emb=neg)
    with pytest.raises(ConfigError, match="together"):
        info_nce(
            torch.eye(2),
            torch.eye(2),
            idx([0, 1]),
            temperature=1.0,
            neg_emb=neg,
            neg_idx=idx([2]),
            log_q=torch.zeros(2),
        )
    with pytest.raises(DataError, match="item_emb"):
        in_batch_logits(torch.eye(2), torch.eye(3))
    with pytest.raises(DataError, match="neg_emb"):
        append_negatives(torch.eye(2), torch.eye(2), torch.ones(1, 3))


def test_learned_temperature_is_clamped_and_trainable() -> None:
    temp = Temperature(initial=0.5)
    assert temp().item() == pytest.approx(0.5)
    loss = info_nce(torch.eye(2), torch.eye(2), idx([0, 1]), temperature=temp())
    loss.backward()
    assert temp.log_inv_tau.grad is not None
    assert temp.log_inv_tau.grad.item() < 0  # sharper softmax lowers this loss
    with torch.no_grad():
        temp.log_inv_tau.fill_(100.0)
    assert temp().item() == pytest.approx(0.01)
    with torch.no_grad():
        temp.log_inv_tau.fill_(-100.0)
    assert temp().item() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match=r"train\.temperature"):
        Temperature(initial=2.0)


def _logits_strategy() -> st.SearchStrategy[np.ndarray]:
    shapes = st.integers(1, 5).flatmap(lambda b: st.tuples(st.just(b), st.integers(b, b + 3)))
    values = st.floats(-50, 50, allow_nan=False, width=32)
    return shapes.flatmap(lambda s: arrays(np.float32, s, elements=values))


@settings(max_examples=60, deadline=None)
@given(_logits_strategy())
def test_cross_entropy_is_finite_and_non_negative(logits: np.ndarray) -> None:
    loss = diagonal_cross_entropy(torch.from_numpy(logits))
    assert torch.isfinite(loss)
    assert loss.item() >= -1e-6


@settings(max_examples=60, deadline=None)
@given(_logits_strategy(), st.lists(st.floats(-1e3, 1e3), min_size=5, max_size=5))
def test_cross_entropy_ignores_row_constants(logits: np.ndarray, shifts: list[float]) -> None:
    x = torch.from_numpy(logits).double()
    shifted = x + torch.tensor(shifts[: x.shape[0]], dtype=torch.float64)[:, None]
    torch.testing.assert_close(diagonal_cross_entropy(shifted), diagonal_cross_entropy(x))


@settings(max_examples=60, deadline=None)
@given(
    _logits_strategy(),
    st.lists(st.integers(0, 2), min_size=8, max_size=8),
    st.lists(st.floats(0.1, 5.0), min_size=5, max_size=5),
)
def test_masking_a_duplicate_equals_dropping_it(
    logits: np.ndarray, ids: list[int], weights: list[float]
) -> None:
    x = torch.from_numpy(logits).double()
    B, C = x.shape
    pos, cand = idx(ids[:B]), idx(ids[:C])
    w = t(weights[:B])
    masked = diagonal_cross_entropy(mask_accidental_hits(x, pos, cand), w)
    per_row = []
    for i in range(B):
        keep = [j for j in range(C) if j == i or cand[j] != pos[i]]
        target = torch.tensor([keep.index(i)])
        per_row.append(cross_entropy(x[i, keep][None], target))
    torch.testing.assert_close(masked, (w * torch.stack(per_row)).sum() / w.sum())


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda b: arrays(np.float32, (2, b, 4), elements=st.floats(-3, 3, width=32))
    ),
    st.floats(0.01, 1.0),
)
def test_info_nce_finite_and_non_negative(emb: np.ndarray, tau: float) -> None:
    u, v = torch.from_numpy(emb[0]), torch.from_numpy(emb[1])
    loss = info_nce(u, v, torch.arange(u.shape[0]), temperature=tau)
    assert torch.isfinite(loss)
    assert loss.item() >= -1e-6
