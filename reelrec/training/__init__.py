"""Contrastive training of the two towers: InfoNCE loss switches, negatives and logQ estimates."""

from __future__ import annotations

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
from reelrec.training.negatives import (
    StreamingFrequencyEstimator,
    sample_uniform_negatives,
    static_log_q,
    uniform_log_q,
)

__all__ = [
    "StreamingFrequencyEstimator",
    "Temperature",
    "append_negatives",
    "apply_logq",
    "apply_temperature",
    "diagonal_cross_entropy",
    "in_batch_logits",
    "info_nce",
    "mask_accidental_hits",
    "sample_uniform_negatives",
    "static_log_q",
    "uniform_log_q",
]
