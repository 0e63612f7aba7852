"""Vector indexes for candidate retrieval: exact numpy search and faiss Flat/HNSW/IVF.

Importing this package never imports faiss; ``FaissIndex`` does so when constructed.
"""

from __future__ import annotations

from reelrec.index.base import INDEX_MANIFEST, VectorIndex
from reelrec.index.exact import ExactIndex
from reelrec.index.factory import build_index, load_index, make_index
from reelrec.index.faiss_index import FaissIndex, ivf_nlist, set_faiss_threads
from reelrec.index.quality import recall_vs_exact

__all__ = [
    "INDEX_MANIFEST",
    "ExactIndex",
    "FaissIndex",
    "VectorIndex",
    "build_index",
    "ivf_nlist",
    "load_index",
    "make_index",
    "recall_vs_exact",
    "set_faiss_threads",
]
