"""MultiTaskRanker: a shared MLP over standardised ranker inputs, one logit per head.

Heads (``HEADS``): watch (capped watch ratio as a soft target of a sigmoid, prediction
``watch_cap · sigmoid``), like, complete, share_follow (probabilities).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

HEADS = ("watch", "like", "complete", "share_follow")


class MultiTaskRanker(nn.Module):
    """Shared ReLU MLP and a linear layer of ``len(HEADS)`` logits.

    Args:
        n_inputs: width of an input row.
        hidden: hidden widths of the shared MLP.
        mean / std: ``[n_inputs]`` standardisation fitted on the training rows.
    """

    def __init__(self, n_inputs: int, hidden: list[int], mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        layers: list[nn.Module] = []
        width = n_inputs
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.heads = nn.Linear(width, len(HEADS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, len(HEADS)]`` logits of ``[n, n_inputs]`` rows."""
        z = (x - self.mean) / self.std
        out: torch.Tensor = self.heads(self.body(z))
        return out


__all__ = ["HEADS", "MultiTaskRanker"]
