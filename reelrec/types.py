"""Array aliases shared by every stage: ids are strings at the edges, dense int64 inside."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Embeddings = NDArray[np.float32]
"""[n, dim] float32 vectors."""
Scores = NDArray[np.float32]
"""[n_queries, k] float32 scores, descending per row."""
Idx = NDArray[np.int64]
"""Dense internal indices (``idx``), int64."""
Ids = NDArray[np.str_] | NDArray[np.object_]
"""External string ids (``id``)."""
