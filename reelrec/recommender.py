"""Recommender: the composition root — features → towers (InfoNCE) → index → feeds.

``Recommender.from_config`` is the one place that names concrete stage classes.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp
import torch

from reelrec.config import Config
from reelrec.data.readers import Dataset
from reelrec.errors import NotFittedError
from reelrec.features.definitions import FeatureSpace, VideoArrays
from reelrec.features.history import InteractionLog
from reelrec.index.base import VectorIndex
from reelrec.index.factory import build_index
from reelrec.models.two_tower import TwoTower
from reelrec.training.examples import ExampleBuilder, item_inputs, user_inputs
from reelrec.training.loop import History, seed_everything, train
from reelrec.types import Idx

log = logging.getLogger(__name__)
ENCODE_BATCH = 8192


@dataclass(frozen=True, slots=True, kw_only=True)
class Slate:
    """One user's feed: video ids with scores (descending), reasons, and a fallback marker."""

    user_id: str
    video_ids: list[str]
    scores: list[float]
    reasons: list[list[str]] = field(default_factory=list)
    fallback: str | None = None


def model_sizes(space: FeatureSpace) -> dict[str, object]:
    """Embedding-table sizes the towers need for a fitted feature space."""
    return {
        "users": space.users.size,
        "videos": space.videos.size,
        "creators": space.creators.size,
        "tags": space.tags.size,
        "text": space.cfg.text_buckets,
        "duration": len(space.cfg.duration_buckets),
        "age": len(space.cfg.age_buckets_hours),
        "vectors": space.vector_dim,
        "attributes": [v.n_known for v in space.attributes.values()],
    }


def catalog_frame(space: FeatureSpace, videos: pl.DataFrame) -> pl.DataFrame:
    """The videos table in vocabulary order, with empty metadata for ids only seen in logs."""
    order = pl.DataFrame({"video_id": space.videos.ids})
    frame = order.join(videos, on="video_id", how="left", maintain_order="left")
    return frame.with_columns(pl.col("tags").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))


def interaction_matrix(space: FeatureSpace, interactions: pl.DataFrame) -> sp.csr_matrix:
    """``[n_users, n_videos]`` binary CSR of every (user, video) pair in ``interactions``."""
    users = space.users.encode(interactions.get_column("user_id"))
    videos = space.videos.encode(interactions.get_column("video_id"))
    keep = (
        (users < space.users.n_known)
        & (videos < space.videos.n_known)
        & (users >= 0)
        & (videos >= 0)
    )
    shape = (space.users.n_known, space.videos.n_known)
    data = np.ones(int(keep.sum()), dtype=np.float32)
    matrix = sp.csr_matrix((data, (users[keep], videos[keep])), shape=shape)
    matrix.data[:] = 1.0
    return matrix


class Recommender:
    """Fit two towers on a dataset, index the videos, and recommend feeds.

    Example:
        >>> rec = Recommender.from_config(cfg).fit(dataset)   # doctest: +SKIP
        >>> rec.recommend(["u42"], k=20)                       # doctest: +SKIP
    """

    def __init__(self, config: Config) -> None:
        self.config = config

    @classmethod
    def from_config(cls, config: Config) -> Recommender:
        """A recommender for ``config``."""
        return cls(config)

    # --- fitting -----------------------------------------------------------------------
    def fit(self, dataset: Dataset, validation: pl.DataFrame | None = None) -> Recommender:
        """Fit features, train the towers with early stopping, and build the index.

        Args:
            dataset: training data.
            validation: held-out interactions for early stopping (a protocol's validation
                split); by default the last positive of ``train.validation_users`` users is
                held out of ``dataset``.
        """
        cfg = self.config
        seed_everything(cfg.train.seed)
        space = FeatureSpace.fit(cfg.features, dataset.interactions, dataset.videos, dataset.users)
        logbook = InteractionLog.build(dataset.interactions, space, cfg.data)
        catalog = space.encode_videos(catalog_frame(space, dataset.videos))
        attrs = space.encode_attributes(dataset.users, space.users.ids)
        if validation is None:
            train_ex, valid_ex = self._holdout(logbook)
        else:
            train_ex, valid_ex = np.arange(logbook.n_examples), np.empty(0, dtype=np.int64)
        counts = np.bincount(logbook.ex_video, minlength=space.videos.n_known).astype(np.float64)
        # A video without training positives never trains its id row; it enters the item tower
        # as "unknown id" (-1, a zero embedding), like a brand-new video, so content alone
        # places it (its untrained random row would only add noise).
        id_input = np.where(counts > 0, np.arange(counts.size), -1).astype(np.int64)
        catalog = replace(catalog, video_idx=id_input)
        self.space_, self.log_, self.catalog_, self.user_attrs_ = space, logbook, catalog, attrs
        self.model_ = TwoTower(cfg.model, model_sizes(space), sparse=cfg.train.sparse_embeddings)
        builder = ExampleBuilder(
            space=space,
            log=logbook,
            catalog=catalog,
            user_attrs=attrs,
            model_cfg=cfg.model,
            features_cfg=cfg.features,
            examples=train_ex,
            seed=cfg.train.seed,
        )
        validate = self._validator(valid_ex) if valid_ex.size else None
        if validation is not None:
            self.seen_ = interaction_matrix(space, dataset.interactions)
            validate = self._frame_validator(validation)
        self.history_: History = train(
            self.model_, builder, cfg.train, validate=validate, counts=counts
        )
        self.seen_ = interaction_matrix(space, dataset.interactions)
        self.popularity_ = counts
        self.model_version_ = self._version()
        self.build_index()
        return self

    def _holdout(self, logbook: InteractionLog) -> tuple[Idx, Idx]:
        """Hold out the last positive of ``validation_users`` random users with ≥ 3 positives."""
        n_val = self.config.train.validation_users
        all_ex = np.arange(logbook.n_examples)
        if n_val == 0 or logbook.n_examples == 0:
            return all_ex, np.empty(0, dtype=np.int64)
        users = logbook.ex_user
        last = np.r_[np.flatnonzero(np.diff(users)), users.size - 1]
        counts = np.diff(np.r_[-1, last])
        eligible = last[counts >= 3]
        rng = np.random.default_rng(self.config.train.seed)
        chosen = rng.choice(eligible, size=min(n_val, eligible.size), replace=False)
        mask = np.ones(logbook.n_examples, dtype=bool)
        mask[chosen] = False
        return all_ex[mask], np.sort(chosen)

    def _validator(self, valid_ex: Idx):  # type: ignore[no-untyped-def]
        k = self.config.train.validation_k

        def recall(model: TwoTower) -> float:
            items = self._encode_catalog(model)
            logbook = self.log_
            window = logbook.window_before(valid_ex, self.config.features.history_length)
            times = (
                logbook.ex_time[valid_ex] if logbook.has_time else np.full(valid_ex.shape, np.nan)
            )
            users = logbook.ex_user[valid_ex]
            with torch.no_grad():
                u = model.encode_users(
                    user_inputs(users, window, times, self.user_attrs_[users], self.catalog_)
                ).numpy()
            scores = u @ items.T
            for row, ex in enumerate(valid_ex):
                start = logbook.user_start[users[row]]
                seen = logbook.h_video[start : logbook.ex_hist_end[ex]]
                seen = seen[seen != logbook.ex_video[ex]]
                scores[row, seen] = -np.inf
            target = scores[np.arange(valid_ex.size), logbook.ex_video[valid_ex]]
            rank = (scores > target[:, None]).sum(axis=1)
            return float((rank < k).mean())

        return recall

    def _frame_validator(self, validation: pl.DataFrame):  # type: ignore[no-untyped-def]
        """Recall@K of a validation split's positives (train items masked), sampled users."""
        from reelrec.data.signals import positive_expr

        k, space = self.config.train.validation_k, self.space_
        positives = validation.filter(positive_expr(validation.columns, self.config.data))
        users = space.users.encode(positives.get_column("user_id"))
        videos = space.videos.encode(positives.get_column("video_id"))
        keep = (
            (users >= 0)
            & (users < space.users.n_known)
            & (videos >= 0)
            & (videos < space.videos.n_known)
        )
        shape = (space.users.n_known, space.videos.n_known)
        truth = sp.csr_matrix(
            (np.ones(int(keep.sum()), np.float32), (users[keep], videos[keep])), shape=shape
        )
        truth = (truth - truth.multiply(self.seen_)).tocsr()
        truth.eliminate_zeros()
        candidates = np.flatnonzero(np.diff(truth.indptr) > 0)
        rng = np.random.default_rng(self.config.train.seed)
        n = min(self.config.train.validation_users or candidates.size, candidates.size)
        chosen = np.sort(rng.choice(candidates, size=n, replace=False))

        def recall(model: TwoTower) -> float:
            items = self._encode_catalog(model)
            window = self.log_.latest(chosen, self.config.features.history_length)
            x = user_inputs(
                chosen,
                window,
                np.full(chosen.shape, np.nan),
                self.user_attrs_[chosen],
                self.catalog_,
            )
            with torch.no_grad():
                scores = model.encode_users(x).numpy() @ items.T
            seen = self.seen_[chosen]
            scores[np.repeat(np.arange(n), np.diff(seen.indptr)), seen.indices] = -np.inf
            top = np.argpartition(-scores, k, axis=1)[:, :k]
            relevant = truth[chosen]
            hits = np.asarray(relevant[np.arange(n)[:, None], top].sum(axis=1)).ravel()
            return float((hits / np.diff(relevant.indptr)).mean())

        return recall

    def _version(self) -> str:
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model_.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().numpy().tobytes())
        return digest.hexdigest()[:12]

    # --- encoding ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this Recommender is not fitted; call fit() or Recommender.load()")

    def _encode_catalog(self, model: TwoTower | None = None) -> np.ndarray:
        return self.encode_videos(self.catalog_, self.space_.reference_seconds, model)

    def encode_videos(
        self, videos: VideoArrays, at_seconds: float, model: TwoTower | None = None
    ) -> np.ndarray:
        """``[n, dim]`` unit vectors of ``videos`` (new ids go through the content path)."""
        model = model or self.model_
        out = []
        with torch.no_grad():
            for start in range(0, len(videos), ENCODE_BATCH):
                rows = np.arange(start, min(start + ENCODE_BATCH, len(videos)))
                out.append(
                    model.encode_items(
                        item_inputs(self.space_, videos.take(rows), at_seconds)
                    ).numpy()
                )
        dim = self.config.model.dim
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    def encode_users(self, user_idx: Idx, at_seconds: np.ndarray) -> np.ndarray:
        """``[n, dim]`` user vectors from each user's latest history and request context."""
        self._check_fitted()
        window = self.log_.latest(user_idx, self.config.features.history_length)
        known = (user_idx >= 0) & (user_idx < self.space_.users.n_known)
        attrs = np.zeros((user_idx.shape[0], self.user_attrs_.shape[1]), dtype=np.int64)
        attrs[known] = self.user_attrs_[user_idx[known]]
        with torch.no_grad():
            at = np.asarray(at_seconds, dtype=np.float64)
            x = user_inputs(np.where(known, user_idx, -1), window, at, attrs, self.catalog_)
            return self.model_.encode_users(x).numpy()

    # --- index and retrieval -----------------------------------------------------------
    def build_index(self) -> VectorIndex:
        """Encode every catalogue video and build the configured index."""
        self._check_fitted()
        vectors = self._encode_catalog()
        ids = np.arange(vectors.shape[0], dtype=np.int64)
        self.index_ = build_index(
            self.config.index, ids, vectors, model_version=self.model_version_
        )
        return self.index_

    def user_idx(self, user_ids: list[str]) -> Idx:
        """Dense indices of ``user_ids`` (OOV buckets for unknown users)."""
        self._check_fitted()
        return self.space_.users.encode(user_ids)

    def retrieve(
        self, user_idx: Idx, k: int, at_seconds: np.ndarray | None = None, exclude_seen: bool = True
    ) -> tuple[Idx, np.ndarray]:
        """Top-``k`` video indices and scores per user; training interactions excluded."""
        self._check_fitted()
        if at_seconds is None:
            at_seconds = np.full(user_idx.shape[0], np.nan)
        queries = self.encode_users(user_idx, at_seconds)
        exclude = None
        if exclude_seen:
            exclude = [self.seen_row(u) for u in user_idx.tolist()]
        return self.index_.search(queries, k, exclude=exclude)

    def seen_row(self, user: int) -> Idx:
        """Videos a known user interacted with in training (empty for unknown users)."""
        if 0 <= user < self.seen_.shape[0]:
            start, end = self.seen_.indptr[user], self.seen_.indptr[user + 1]
            return np.asarray(self.seen_.indices[start:end], dtype=np.int64)
        return np.empty(0, dtype=np.int64)

    def recommend(self, user_ids: list[str], k: int = 20) -> list[Slate]:
        """One slate per user: the top ``k`` videos the user has not interacted with."""
        idx = self.user_idx(user_ids)
        videos, scores = self.retrieve(idx, k)
        slates = []
        for row, user in enumerate(user_ids):
            keep = videos[row] >= 0
            known = 0 <= idx[row] < self.space_.users.n_known
            slates.append(
                Slate(
                    user_id=user,
                    video_ids=[self.space_.videos.ids[v] for v in videos[row][keep].tolist()],
                    scores=[float(s) for s in scores[row][keep]],
                    reasons=[["retrieval"] for _ in range(int(keep.sum()))],
                    fallback=None if known else "cold_user",
                )
            )
        return slates

    # --- persistence -------------------------------------------------------------------
    def save(self, run_dir: str | Path, *, data_dir: str | None = None) -> Path:
        """Write the fitted model to ``run_dir`` (manifest last; index if built)."""
        from reelrec.run_files import save_recommender

        self._check_fitted()
        return save_recommender(self, Path(run_dir), data_dir=data_dir)

    @classmethod
    def load(cls, run_dir: str | Path, *, with_index: bool = True) -> Recommender:
        """Load a run directory written by ``save`` (and ``reelrec index``).

        Raises:
            ArtifactError: the directory is missing, partial, or incompatible.
            IndexStateError: the index was built by another model version.
        """
        from reelrec.run_files import load_recommender

        return load_recommender(cls, Path(run_dir), with_index=with_index)
