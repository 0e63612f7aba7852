"""How close an ANN index comes to the exact answer."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from reelrec.index.base import VectorIndex


def recall_vs_exact(index: VectorIndex, oracle: VectorIndex, queries: ArrayLike, k: int) -> float:
    """Fraction of the oracle's top-``k`` ids that ``index`` also returns in its top-``k``.

    Args:
        index: the index under test.
        oracle: an exact index over the same ids and vectors (usually ``ExactIndex``).
        queries: ``[q, dim] float32``.
        k: cut-off.

    Returns:
        Recall in [0, 1]; 1.0 when the oracle returns nothing.
    """
    got, _ = index.search(queries, k)
    truth, _ = oracle.search(queries, k)
    found = total = 0
    for row_got, row_truth in zip(got, truth, strict=True):
        want = row_truth[row_truth >= 0]
        found += int(np.isin(want, row_got[row_got >= 0]).sum())
        total += len(want)
    return found / total if total else 1.0
