"""Evaluation: ranking metrics, non-neural baselines and the top-K evaluation loop."""

from __future__ import annotations

from reelrec.evaluation.baselines import ALS, EASE, MostPopular
from reelrec.evaluation.ranking_eval import evaluate_topk

__all__ = ["ALS", "EASE", "MostPopular", "evaluate_topk"]
