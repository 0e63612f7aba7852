"""Negative sampling and the sampling probabilities used for logQ correction.

Units of ``log_q``: every function here returns the log of the *expected number of times an
item appears among one batch's candidate columns* from that source:

- in-batch negatives: ``log(B · p(v))`` with ``p(v)`` the item's share of training positives
  (``static_log_q``, or ``StreamingFrequencyEstimator.log_q`` with one update per batch);
- ``M`` uniform corpus negatives out of ``N`` items, drawn with replacement: ``log(M / N)``
  (``uniform_log_q``).

With in-batch negatives alone, ``log p(v)`` and ``log(B · p(v))`` differ by the constant
``log B`` for every column of a row, which the softmax ignores. With *mixed* negatives the two
sources share one softmax, so both must be in the same units, and expected count is the one
in which a sampled softmax is unbiased.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from reelrec.errors import ArtifactError, ConfigError, DataError

_PRIME = (1 << 31) - 1  # Carter–Wegman modulus: (a·x + b) stays below 2**62, so int64 never wraps.


def static_log_q(counts: Tensor, batch_size: int) -> Tensor:
    """Return each item's log expected count per batch from static training counts.

    Args:
        counts: ``[n_items]`` non-negative counts of each item among training positives.
        batch_size: examples per batch ``B``.

    Returns:
        ``[n_items]`` float32 ``log(B · count / total)``; zero counts are floored at a count
        of 1 so the result stays finite (such items never appear in a batch anyway).
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.ndim != 1 or counts.numel() == 0 or bool((counts < 0).any()):
        raise DataError(f"counts must be a non-empty 1-D array of counts >= 0; got {counts}.")
    total = float(counts.sum())
    if total <= 0:
        raise DataError("counts sum to 0: no training positives to estimate popularity from.")
    return torch.log(batch_size * counts.clamp(min=1.0) / total).float()


def uniform_log_q(n_items: int, m: int) -> float:
    """Return ``log(m / n_items)``: the log expected count of any item among ``m`` uniform draws."""
    if n_items < 1 or m < 1:
        raise ConfigError(f"need n_items >= 1 and m >= 1; got n_items={n_items}, m={m}.")
    return math.log(m / n_items)


def sample_uniform_negatives(n_items: int, m: int, generator: torch.Generator) -> Tensor:
    """Draw ``m`` item indices uniformly with replacement.

    Returns:
        ``[m]`` int64 indices in ``[0, n_items)``.
    """
    if n_items < 1 or m < 0:
        raise ConfigError(f"need n_items >= 1 and m >= 0; got n_items={n_items}, m={m}.")
    return torch.randint(0, n_items, (m,), generator=generator, dtype=torch.int64)


class StreamingFrequencyEstimator:
    """Estimate item frequencies from a stream of batches with hashed arrays (Yi et al. 2019).

    Per hash function ``h`` there are three arrays over ``n_buckets``: ``A`` (last global step
    the bucket was seen), ``B`` (moving average of the gap ``t − A`` between sightings) and
    ``C`` (moving average of how many times it was seen at a sighting). On a step ``t`` where a
    bucket is seen ``c`` times::

        B ← (1 − α)·B + α·(t − A);   C ← (1 − α)·C + α·c;   A ← t

    and the estimate is ``C / B`` occurrences per step, i.e. ``1/B`` in the paper when
    ``c = 1``. Duplicates within one batch update once per step (a sighting with count ``c``),
    not ``c`` times: the paper's per-item loop would feed ``c − 1`` zero gaps, making an item's
    memory (``1/α`` sightings) depend on its popularity, and ``1/B`` alone would saturate at one
    per step, under-correcting exactly the items that appear several times per batch.
    ``B`` and ``C`` start at 0 and share their weights, so their ratio needs no bias correction.
    Collisions only shorten gaps, so with several hashes the smallest estimate (largest
    effective gap) is the least collision-inflated one.
    """

    def __init__(
        self,
        n_buckets: int = 2**20,
        n_hashes: int = 2,
        alpha: float = 0.01,
        seed: int = 0,
        min_probability: float = 1e-6,
    ) -> None:
        """Allocate zeroed arrays and draw the hash functions from ``seed``."""
        if n_buckets < 1 or n_hashes < 1 or not 0.0 < alpha <= 1.0 or not min_probability > 0:
            raise ConfigError(
                f"need n_buckets >= 1, n_hashes >= 1, 0 < alpha <= 1, min_probability > 0; got "
                f"{n_buckets}, {n_hashes}, {alpha}, {min_probability}."
            )
        self.n_buckets, self.n_hashes, self.alpha, self.seed = n_buckets, n_hashes, alpha, seed
        self.min_probability = min_probability
        rng = np.random.default_rng(seed)
        self._a = torch.from_numpy(rng.integers(1, _PRIME, n_hashes, dtype=np.int64))
        self._b = torch.from_numpy(rng.integers(0, _PRIME, n_hashes, dtype=np.int64))
        self.last_seen = torch.zeros(n_hashes, n_buckets, dtype=torch.int64)  # A
        self.gap_avg = torch.zeros(n_hashes, n_buckets, dtype=torch.float32)  # B
        self.count_avg = torch.zeros(n_hashes, n_buckets, dtype=torch.float32)  # C
        self._last_step: int | None = None

    def _buckets(self, item_idx: Tensor) -> Tensor:
        """Hash ``[n]`` int64 items to ``[n_hashes, n]`` buckets: ``((a·x + b) mod p) mod m``."""
        x = torch.as_tensor(item_idx, dtype=torch.int64).reshape(-1).cpu() % _PRIME
        return ((self._a[:, None] * x[None, :] + self._b[:, None]) % _PRIME) % self.n_buckets

    def update(self, item_idx: Tensor, step: int) -> None:
        """Record that ``item_idx`` (``[n]`` int64, duplicates allowed) were seen at ``step``."""
        if self._last_step is None:
            # Gaps of first sightings count from the step before the first update.
            self.last_seen.fill_(step - 1)
        elif step < self._last_step:
            raise DataError(
                f"steps must not decrease: got step {step} after {self._last_step}. "
                "Pass the global step counter, not the step within the epoch."
            )
        self._last_step = step
        keep = 1.0 - self.alpha
        for h, buckets in enumerate(self._buckets(item_idx)):
            seen, counts = torch.unique(buckets, return_counts=True)
            gaps = (step - self.last_seen[h, seen]).float()
            self.gap_avg[h, seen] = keep * self.gap_avg[h, seen] + self.alpha * gaps
            self.count_avg[h, seen] = keep * self.count_avg[h, seen] + self.alpha * counts.float()
            self.last_seen[h, seen] = step

    def probability(self, item_idx: Tensor) -> Tensor:
        """Return the expected occurrences per step of each item.

        With one update per batch this is ``B · p(v)`` (may exceed 1); never-seen items get
        ``min_probability``.

        Returns:
            ``[n]`` float32, on ``item_idx``'s device.
        """
        buckets = self._buckets(item_idx)
        rows = torch.arange(self.n_hashes)[:, None]
        gap, count = self.gap_avg[rows, buckets], self.count_avg[rows, buckets]
        # A never-seen bucket has gap 0 -> rate inf; min over hashes keeps the real estimate.
        rate = torch.where(gap > 0, count / gap.clamp(min=1e-30), torch.inf).amin(dim=0)
        rate = torch.where(torch.isfinite(rate), rate, 0.0).clamp(min=self.min_probability)
        device = item_idx.device if isinstance(item_idx, Tensor) else torch.device("cpu")
        return rate.to(device)

    def log_q(self, item_idx: Tensor) -> Tensor:
        """Return ``log`` of ``probability`` (``[n]`` float32), finite for never-seen items."""
        return torch.log(self.probability(item_idx))

    def state_dict(self) -> dict[str, Tensor]:
        """Return the arrays and hash layout as tensors (safetensors-friendly)."""
        last = -1 if self._last_step is None else self._last_step
        meta = [self.n_buckets, self.n_hashes, self.seed, int(self._last_step is not None), last]
        return {
            "last_seen": self.last_seen.clone(),
            "gap_avg": self.gap_avg.clone(),
            "count_avg": self.count_avg.clone(),
            "meta": torch.tensor(meta, dtype=torch.int64),
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Restore ``state_dict()`` output; the hash layout must match this estimator's."""
        n_buckets, n_hashes, seed, started, last = (int(v) for v in state["meta"])
        if (n_buckets, n_hashes, seed) != (self.n_buckets, self.n_hashes, self.seed):
            raise ArtifactError(
                f"frequency-estimator checkpoint has (n_buckets, n_hashes, seed) = "
                f"{(n_buckets, n_hashes, seed)}, this estimator "
                f"{(self.n_buckets, self.n_hashes, self.seed)}; build it with the same settings."
            )
        self.last_seen = state["last_seen"].to(torch.int64).clone()
        self.gap_avg = state["gap_avg"].to(torch.float32).clone()
        self.count_avg = state["count_avg"].to(torch.float32).clone()
        self._last_step = last if started else None
