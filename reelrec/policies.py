"""Feed policies for the simulator: the reelrec pipeline and baselines behind one protocol."""

from __future__ import annotations
