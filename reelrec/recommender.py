"""Recommender: the composition root — features → towers (InfoNCE) → index → feeds.

``Recommender.from_config`` is the one place that names concrete stage classes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import scipy.sparse as sp
import torch

from reelrec.config import Config
from reelrec.data.readers import Dataset
from reelrec.errors import NotFittedError
from reelrec.features.definitions import FeatureSpace, VideoArrays
from reelrec.features.events import ApplyReport
from reelrec.features.history import HistoryWindow, InteractionLog
from reelrec.features.live import (
    add_live_videos,
    apply_live_events,
    init_live,
    live_history,
    live_seen,
    live_video_stats,
    tower_ids,
    video_ids_at,
    video_idx_of,
)
from reelrec.features.online import OnlineStore
from reelrec.index.base import VectorIndex
from reelrec.index.factory import build_index
from reelrec.models.numpy_tower import NumpyTwoTower, item_arrays, user_arrays
from reelrec.models.two_tower import TwoTower
from reelrec.ranking.features import RankerInputs, build_inputs
from reelrec.ranking.ranker import Ranker
from reelrec.training.examples import ExampleBuilder, item_inputs, user_inputs
from reelrec.training.loop import History, seed_everything, train
from reelrec.types import Idx

if TYPE_CHECKING:
    from reelrec.rules.base import VideoTable
    from reelrec.rules.chain import RuleChain

log = logging.getLogger(__name__)
ENCODE_BATCH = 8192
STAGES = ("retrieve", "rank", "rules")


def _lap(timings: dict[str, float] | None, stage: str, started: float) -> float:
    """Add the milliseconds since ``started`` to ``timings[stage]``; return the time now."""
    now = time.perf_counter()
    if timings is not None:
        timings[stage] = timings.get(stage, 0.0) + (now - started) * 1e3
    return now


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

    fast_towers_: NumpyTwoTower | None = None  # set by use_numpy_towers() (serving)

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
        self.fast_towers_ = None
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
        self.init_live_state()
        self.build_index()
        self._fit_ranker(dataset)
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
        fast = self.fast_towers_ if model is None else None
        model = model or self.model_
        out = []
        for start in range(0, len(videos), ENCODE_BATCH):
            rows = np.arange(start, min(start + ENCODE_BATCH, len(videos)))
            if fast is not None:  # serving: the NumPy export, no torch call
                x_np = item_arrays(self.space_, videos.take(rows), at_seconds)
                out.append(fast.encode_items(x_np))
                continue
            with torch.no_grad():
                x = item_inputs(self.space_, videos.take(rows), at_seconds)
                out.append(model.encode_items(x).numpy())
        dim = self.config.model.dim
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    def encode_users(
        self, user_idx: Idx, at_seconds: np.ndarray, window: HistoryWindow | None = None
    ) -> np.ndarray:
        """``[n, dim]`` user vectors from each user's latest history and request context.

        ``window``: the users' ``history`` when the caller already has it (one per request).
        """
        self._check_fitted()
        window = self.history(user_idx) if window is None else window
        known = (user_idx >= 0) & (user_idx < self.space_.users.n_known)
        attrs = np.zeros((user_idx.shape[0], self.user_attrs_.shape[1]), dtype=np.int64)
        attrs[known] = self.user_attrs_[user_idx[known]]
        at = np.asarray(at_seconds, dtype=np.float64)
        if self.fast_towers_ is not None:  # serving: the NumPy export, no torch call
            x_np = user_arrays(np.where(known, user_idx, -1), window, at, attrs, self.catalog_)
            x_np["hist_video"] = self._tower_ids(window.video)
            return self.fast_towers_.encode_users(x_np)
        with torch.no_grad():
            x = user_inputs(np.where(known, user_idx, -1), window, at, attrs, self.catalog_)
            x["hist_video"] = torch.from_numpy(self._tower_ids(window.video))
            return self.model_.encode_users(x).numpy()

    def use_numpy_towers(self) -> NumpyTwoTower:
        """Encode users and videos with the NumPy export of the towers from now on.

        Serving calls this once after loading, so no request calls PyTorch; ``fit`` resets it.
        """
        self._check_fitted()
        self.fast_towers_ = NumpyTwoTower.from_torch(self.model_)
        return self.fast_towers_

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

    def seen_row(self, user: int, user_id: str | None = None) -> Idx:
        """Videos a user interacted with in training or in live events (``user_id``: the
        external id, which also finds the live events of users unknown at training time)."""
        trained = np.empty(0, dtype=np.int64)
        if 0 <= user < self.seen_.shape[0]:
            start, end = self.seen_.indptr[user], self.seen_.indptr[user + 1]
            trained = np.asarray(self.seen_.indices[start:end], dtype=np.int64)
        elif user_id is None:
            return trained
        return live_seen(self, user, trained, user_id)

    # --- live state: feature store, events, new videos (issue 4) -------------------------
    store_: OnlineStore
    new_video_ids_: list[str]  # ingested videos, in order: dense idx = n_known + position
    new_video_pos_: dict[str, int]
    clock_: float  # latest event time applied (epoch s): "now" for decayed video stats

    def init_live_state(self, run_dir: Path | None = None) -> OnlineStore:
        """Open the online store (``config.store``) and the ingested-video table.

        With a run directory, the embedded store starts from ``run_dir/store`` and earlier
        ingested videos are restored. Called by ``fit`` and ``load``.

        Raises:
            StoreError: Redis unreachable (unless ``store.fallback_to_embedded``).
        """
        return init_live(self, run_dir)

    def history(self, user_idx: Idx, user_ids: Sequence[str] | None = None) -> HistoryWindow:
        """The latest ``features.history_length`` played events of each user: the training log
        followed by the user's live events, as dense video indices (ingested videos ≥ the
        training vocabulary size). With ``user_ids``, users unknown at training time get the
        history of their live events too."""
        return live_history(self, user_idx, user_ids)

    def apply_events(self, events: pl.DataFrame | Sequence[Mapping[str, object]]) -> ApplyReport:
        """Validate and apply live events to the store (idempotent by ``event_id``).

        Every input record is accounted for: applied, duplicate, or failed with its reason
        (invalid field, unknown video, too old for the history window, store unavailable).
        """
        return apply_live_events(self, events)

    def add_videos(self, videos: pl.DataFrame) -> list[str]:
        """Encode new videos with the item tower's content path and add them to the index.

        Validated against the ``videos`` schema; ids already known are skipped. Returns the ids
        added, in order; they are searchable as soon as this returns (no rebuild).
        """
        return add_live_videos(self, videos)

    def video_idx(self, video_ids: Sequence[str]) -> Idx:
        """Dense indices of videos (training vocabulary, then ingested videos); -1 if unknown."""
        return video_idx_of(self, video_ids)

    def video_ids_of(self, idx: Idx) -> list[str]:
        """External ids of dense video indices.

        Raises:
            UnknownIdError: an index is neither a training nor an ingested video.
        """
        return video_ids_at(self, idx)

    def video_stats(self, video_idx: Idx) -> np.ndarray:
        """``[n, len(VIDEO_STATS)]`` float32 live engagement of videos (0 for unknown/-1)."""
        return live_video_stats(self, video_idx)

    def _tower_ids(self, video: Idx) -> Idx:
        """History ids as the tower's id table sees them: an ingested video → its OOV bucket."""
        return tower_ids(self, video)

    # --- ranking and the feed pipeline (issue 5) ------------------------------------------
    ranker_: Ranker | None = None
    video_table_: VideoTable | None = None

    def _fit_ranker(self, dataset: Dataset) -> None:
        """Train the multi-task ranker on the training impressions (``ranking.ranker``)."""
        from reelrec.ranking.train import impressions

        self.ranker_, self.video_table_ = None, None
        cfg = self.config
        if not cfg.ranking.enabled:
            return
        imp = impressions(dataset.interactions, self.space_, cfg.data, cfg.ranking)

        def pool(users: Idx) -> Idx:
            return self.retrieve(users, cfg.ranking.candidates)[0]

        self.ranker_ = Ranker.fit(
            imp,
            log=self.log_,
            catalog=self.catalog_,
            n_tags=self.space_.tags.size,
            encode_users=self._encode_windows,
            item_vectors=self.index_.get_vectors(np.arange(len(self.catalog_))),
            candidates=pool,
            cfg=cfg.ranking,
            history_length=cfg.features.history_length,
        )

    def _encode_windows(self, users: Idx, window: HistoryWindow, at: np.ndarray) -> np.ndarray:
        """Tower user vectors of known ``users`` from given (point-in-time) history windows."""
        with torch.no_grad():
            x = user_inputs(users, window, at, self.user_attrs_[users], self.catalog_)
            return self.model_.encode_users(x).numpy()

    def _ranker_scores(
        self,
        user_idx: Idx,
        queries: np.ndarray,
        videos: Idx,
        at: np.ndarray,
        timings: dict[str, float] | None = None,
        window: HistoryWindow | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feed scores ``[U, C]`` (-inf on padding) and heads ``[U, C, H]`` of candidates."""
        assert self.ranker_ is not None
        clock = time.perf_counter()
        rows, cols = np.nonzero(videos >= 0)
        cand = videos[rows, cols]
        x = RankerInputs(
            user_vec=queries,
            window=self.history(user_idx) if window is None else window,
            at_seconds=at,
            row_user=rows.astype(np.int64),
            cand=cand,
            item_vec=self.index_.get_vectors(cand),
            stats=self.ranker_.stats(cand, self._live_stats(cand)),
        )
        features = build_inputs(x, self.catalog_, self.ranker_.n_tags)
        clock = _lap(timings, "features", clock)
        score, heads = self.ranker_.runtime.score(features)
        _lap(timings, "ranking", clock)
        scores = np.full(videos.shape, -np.inf, dtype=np.float32)
        scores[rows, cols] = score
        out = np.full((*videos.shape, heads.shape[1]), np.nan, dtype=np.float32)
        out[rows, cols] = heads
        return scores, out

    def _live_stats(self, video_idx: Idx) -> np.ndarray | None:
        """Live engagement of ``video_idx`` when the online store holds any (else None)."""
        store = getattr(self, "store_", None)
        try:
            empty = store is None or len(store) == 0
        except TypeError:  # a store without a size (Redis): always ask it
            empty = False
        return None if empty else self.video_stats(video_idx)

    def rank(
        self, user_idx: Idx, video_idx: Idx, at_seconds: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ranker feed scores ``[U, C]`` and head predictions ``[U, C, 4]`` of candidates.

        Args:
            user_idx: ``[U]`` dense user indices.
            video_idx: ``[U, C]`` candidate video indices, ``-1`` padded (score ``-inf``).
            at_seconds: ``[U]`` request times (NaN or None: unknown).

        Raises:
            NotFittedError: no ranker (``ranking.enabled`` was false at fit).
        """
        self._check_fitted()
        if self.ranker_ is None:
            raise NotFittedError("this Recommender has no ranker; fit with ranking.enabled=true")
        at = np.full(len(user_idx), np.nan) if at_seconds is None else np.asarray(at_seconds)
        queries = self.encode_users(user_idx, at)
        return self._ranker_scores(user_idx, queries, np.atleast_2d(video_idx), at)

    def video_table(self) -> VideoTable:
        """The catalogue as the rules read it (built once; extended when videos are added)."""
        from reelrec.rules.videos import video_table

        table, catalog = self.video_table_, self.catalog_
        start = 0 if table is None else len(table)
        if table is not None and start == len(catalog):
            return table
        rows = np.arange(start, len(catalog))
        popularity = np.zeros(rows.size)
        known = rows < self.popularity_.shape[0]
        popularity[known] = self.popularity_[rows[known]]
        vectors = self.index_.get_vectors(rows)
        new = video_table(catalog.take(rows), vectors, popularity)
        self.video_table_ = new if table is None else table.append(new)
        return self.video_table_

    def _rule_chain(self) -> RuleChain:
        """The configured rule chain, built once per recommender."""
        chain: RuleChain | None = getattr(self, "rule_chain_", None)
        if chain is None:
            from reelrec.rules.chain import build_chain

            chain = self.rule_chain_ = build_chain(self.config.rules)
        return chain

    def recommend(
        self,
        user_ids: Sequence[str],
        k: int = 20,
        *,
        at_seconds: np.ndarray | None = None,
        exclude: Sequence[Sequence[str]] | None = None,
        stages: Sequence[str] = STAGES,
        timings: dict[str, float] | None = None,
    ) -> list[Slate]:
        """Feeds: retrieve ``ranking.candidates`` → rank (feed score) → rules → first ``k``.

        Args:
            user_ids: external user ids (unknown ones get ``fallback="cold_user"``).
            k: feed length.
            at_seconds: ``[U]`` request times, epoch seconds (None: unknown).
            exclude: per user, further video ids never to return.
            stages: ``"retrieve"`` always runs; drop ``"rank"`` and/or ``"rules"`` to skip them.
            timings: if given, milliseconds are added per stage: features, user_tower, ann,
                ranking, rules.
        """
        from reelrec.rules.base import Candidates, RuleContext

        self._check_fitted()
        clock = time.perf_counter()
        idx = self.user_idx(list(user_ids))
        at = np.full(len(idx), np.nan) if at_seconds is None else np.asarray(at_seconds, float)
        ranked = "rank" in stages and self.ranker_ is not None
        chain = self._rule_chain() if "rules" in stages else None
        width = max(self.config.ranking.candidates, k) if ranked or chain is not None else k
        # One read of the store per request, for towers and ranker; by id, so that a user
        # unknown at training time is personalised from their live events.
        window = self.history(idx, list(user_ids))
        queries = self.encode_users(idx, at, window)
        clock = _lap(timings, "user_tower", clock)
        seen = [self.seen_row(u, uid) for u, uid in zip(idx.tolist(), user_ids, strict=True)]
        banned = [
            np.concatenate([seen[r], self._known_videos(exclude[r] if exclude else [])])
            for r in range(len(idx))
        ]
        videos, scores = self.index_.search(queries, width, exclude=banned)
        clock = _lap(timings, "ann", clock)
        note: tuple[str, ...] = ("retrieval",)
        if ranked:
            scores, _ = self._ranker_scores(idx, queries, videos, at, timings, window)
            clock = time.perf_counter()
            order = np.argsort(-scores, axis=1, kind="stable")
            videos = np.take_along_axis(videos, order, axis=1)
            scores = np.take_along_axis(scores, order, axis=1)
            clock = _lap(timings, "ranking", clock)
            note = ("retrieval", "ranked")
        table = self.video_table() if chain is not None else None
        # Rules need a clock even when the request has none (freshness, seen windows): the
        # latest time the model knows of (training data end, or the newest live event).
        now = np.where(np.isfinite(at), at, max(self.space_.reference_seconds, self.clock_))
        slates = []
        for row, user in enumerate(user_ids):
            feed = Candidates.from_ranked(videos[row], scores[row], note)
            if chain is not None and table is not None:
                ctx = RuleContext(videos=table, seen=banned[row], now_seconds=now[row], k=k)
                feed = chain.apply(feed, ctx)
            known = 0 <= idx[row] < self.space_.users.n_known or bool(
                (window.video[row] >= 0).any()
            )
            top = feed.video_idx[:k].tolist()
            slates.append(
                Slate(
                    user_id=user,
                    video_ids=self.video_ids_of(np.asarray(top, dtype=np.int64)),
                    scores=[float(x) for x in feed.scores[:k]],
                    reasons=[list(r) for r in feed.reasons[:k]],
                    fallback=None if known else "cold_user",
                )
            )
        if chain is not None:
            _lap(timings, "rules", clock)
        return slates

    def _known_videos(self, video_ids: Sequence[str]) -> Idx:
        """Dense indices of the known ``video_ids`` (unknown ones dropped)."""
        if not video_ids:
            return np.empty(0, dtype=np.int64)
        idx = self.video_idx(list(video_ids))
        return idx[idx >= 0]

    def similar(self, video_ids: Sequence[str], k: int) -> list[Slate]:
        """Item-to-item: the ``k`` nearest videos to each video in the index (itself excluded).

        Unknown videos get an empty slate with ``fallback="unknown_video"``.
        """
        self._check_fitted()
        idx = self.space_.videos.encode(list(video_ids))
        known = (idx >= 0) & (idx < len(self.catalog_))
        out = [
            Slate(user_id=v, video_ids=[], scores=[], fallback="unknown_video") for v in video_ids
        ]
        rows = np.flatnonzero(known)
        if rows.size:
            vectors = self.index_.get_vectors(idx[rows])
            found, scores = self.index_.search(vectors, k, exclude=[idx[r : r + 1] for r in rows])
            for j, r in enumerate(rows.tolist()):
                keep = found[j] >= 0
                out[r] = Slate(
                    user_id=video_ids[r],
                    video_ids=self.video_ids_of(found[j][keep]),
                    scores=[float(x) for x in scores[j][keep]],
                    reasons=[["similar"] for _ in range(int(keep.sum()))],
                )
        return out

    # --- persistence -------------------------------------------------------------------
    def save(self, run_dir: str | Path, *, data_dir: str | None = None) -> Path:
        """Write the fitted model to ``run_dir`` (manifest last; index if built)."""
        from reelrec.run_files import save_recommender

        self._check_fitted()
        return save_recommender(self, Path(run_dir), data_dir=data_dir)

    @classmethod
    def load(
        cls, run_dir: str | Path, *, with_index: bool = True, map_index: bool = True
    ) -> Recommender:
        """Load a run directory written by ``save`` (and ``reelrec index``).

        ``map_index``: memory-map a faiss Flat/HNSW index (default) or read it into memory.

        Raises:
            ArtifactError: the directory is missing, partial, or incompatible.
            IndexStateError: the index was built by another model version.
        """
        from reelrec.run_files import load_recommender

        return load_recommender(cls, Path(run_dir), with_index=with_index, map_index=map_index)
