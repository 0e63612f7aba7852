"""The ranker exported to NumPy for fast single-core serving (parity with torch is tested)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from reelrec.artifacts import atomic_write_json
from reelrec.errors import ArtifactError
from reelrec.ranking.model import HEADS, MultiTaskRanker
from reelrec.ranking.scoring import feed_score


@dataclass(frozen=True, slots=True, kw_only=True)
class RankerRuntime:
    """Standardisation folded into the first layer; ReLU layers; sigmoid heads.

    Attributes:
        weights / biases: per layer ``[in, out]`` float32 matrices and ``[out]`` biases.
        available: ``[len(HEADS)]`` heads that had labels in training (others read as NaN).
        head_weights: feed-score weights in ``HEADS`` order.
        watch_cap: the watch head predicts ``watch_cap · sigmoid``.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    available: np.ndarray
    head_weights: np.ndarray
    watch_cap: float

    @classmethod
    def from_torch(
        cls,
        model: MultiTaskRanker,
        *,
        available: np.ndarray,
        head_weights: np.ndarray,
        watch_cap: float,
    ) -> RankerRuntime:
        """Export ``model``: ``(x − mean) / std`` is folded into the first linear layer."""
        mean = model.mean.detach().numpy().astype(np.float64)
        std = model.std.detach().numpy().astype(np.float64)
        linears = [m for m in model.body if isinstance(m, nn.Linear)] + [model.heads]
        weights = [lin.weight.detach().numpy().T.astype(np.float64) for lin in linears]
        biases = [lin.bias.detach().numpy().astype(np.float64) for lin in linears]
        biases[0] = biases[0] - (mean / std) @ weights[0]
        weights[0] = weights[0] / std[:, None]
        return cls(
            weights=[np.ascontiguousarray(w, dtype=np.float32) for w in weights],
            biases=[b.astype(np.float32) for b in biases],
            available=np.asarray(available, dtype=bool),
            head_weights=np.asarray(head_weights, dtype=np.float32),
            watch_cap=float(watch_cap),
        )

    @property
    def n_inputs(self) -> int:
        """Width of an input row."""
        return int(self.weights[0].shape[0])

    def heads(self, x: np.ndarray) -> np.ndarray:
        """``[n, len(HEADS)]`` predictions (watch ratio, then probabilities) of ``[n, F]`` rows."""
        h = np.asarray(x, dtype=np.float32)
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = h @ w
            h += b
            np.maximum(h, 0.0, out=h)
        logits = h @ self.weights[-1] + self.biases[-1]
        out = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
        out[:, 0] *= self.watch_cap
        return np.asarray(out, dtype=np.float32)

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``([n] feed score, [n, len(HEADS)] head predictions)``."""
        heads = self.heads(x)
        return feed_score(heads, self.head_weights, self.available, self.watch_cap), heads

    def with_weights(self, head_weights: np.ndarray) -> RankerRuntime:
        """The same ranker with other feed-score weights."""
        return RankerRuntime(
            weights=self.weights,
            biases=self.biases,
            available=self.available,
            head_weights=np.asarray(head_weights, dtype=np.float32),
            watch_cap=self.watch_cap,
        )

    def save(self, folder: Path) -> None:
        """Write ``ranker.npz`` and ``ranker.json`` into ``folder``."""
        arrays: dict[str, Any] = {f"w{i}": w for i, w in enumerate(self.weights)}
        arrays |= {f"b{i}": b for i, b in enumerate(self.biases)}
        with (folder / "ranker.npz").open("wb") as fh:
            np.savez(fh, **arrays)
        atomic_write_json(
            folder / "ranker.json",
            {
                "layers": len(self.weights),
                "heads": list(HEADS),
                "available": self.available.tolist(),
                "head_weights": self.head_weights.tolist(),
                "watch_cap": self.watch_cap,
            },
        )

    @classmethod
    def load(cls, folder: Path) -> RankerRuntime:
        """Read what ``save`` wrote."""
        try:
            meta = json.loads((folder / "ranker.json").read_text("utf-8"))
            with np.load(folder / "ranker.npz") as data:
                n = int(meta["layers"])
                weights = [data[f"w{i}"] for i in range(n)]
                biases = [data[f"b{i}"] for i in range(n)]
        except (OSError, ValueError, KeyError) as e:
            raise ArtifactError(f"{folder}: cannot read the ranker ({e}); retrain") from e
        if list(meta["heads"]) != list(HEADS):
            raise ArtifactError(f"{folder}: ranker heads {meta['heads']} are not {list(HEADS)}")
        return cls(
            weights=weights,
            biases=biases,
            available=np.asarray(meta["available"], dtype=bool),
            head_weights=np.asarray(meta["head_weights"], dtype=np.float32),
            watch_cap=float(meta["watch_cap"]),
        )


__all__ = ["RankerRuntime"]
