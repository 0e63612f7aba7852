"""Offline comparison: the fitted recommender and baselines on one held-out set, same protocol.

Every model ranks the full catalogue; each user's training interactions are masked; users
unseen in training form the ``cold_users`` slice and videos without training interactions
form the ``cold_videos`` slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from reelrec.config import Config
from reelrec.data.readers import Dataset
from reelrec.data.signals import positive_expr
from reelrec.errors import ConfigError, DataError
from reelrec.evaluation import ALS, EASE, MostPopular, evaluate_topk
from reelrec.progress import track
from reelrec.recommender import Recommender, interaction_matrix
from reelrec.types import Idx

BASELINES = ("popular", "ease", "als", "id-two-tower")
AUC_MAX_USERS = 3000  # full-catalogue AUC on a seeded user sample beyond this (unbiased)


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalData:
    """Train/test matrices over evaluation rows: known users first, then cold test users."""

    train: sp.csr_matrix
    test: sp.csr_matrix
    user_idx: Idx
    at_seconds: np.ndarray
    n_known: int
    cold_videos: np.ndarray


def evaluation_data(
    rec: Recommender, test: pl.DataFrame, mask: pl.DataFrame | None = None
) -> EvalData:
    """Encode the positive test interactions in the recommender's vocabularies.

    ``mask`` holds further interactions (a validation split) masked like training ones.
    """
    space = rec.space_
    positives = test.filter(positive_expr(test.columns, rec.config.data))
    videos = space.videos.encode(positives.get_column("video_id"))
    keep = (videos >= 0) & (videos < space.videos.n_known)
    positives, videos = positives.filter(pl.Series(keep)), videos[keep]
    if positives.height == 0:
        raise DataError("the test set has no positive interactions with known videos")
    user_ids = positives.get_column("user_id")
    known = user_ids.is_in(pl.Series(space.users.ids, dtype=pl.Utf8).implode()).to_numpy()
    cold_ids = user_ids.filter(pl.Series(~known)).unique(maintain_order=True).to_list()
    n_known = space.users.n_known
    row_of = {u: n_known + i for i, u in enumerate(cold_ids)}
    rows = np.where(known, space.users.encode(user_ids), 0)
    rows[~known] = [row_of[u] for u in user_ids.filter(pl.Series(~known)).to_list()]
    n_rows = n_known + len(cold_ids)
    n_items = space.videos.n_known
    test_m = sp.csr_matrix(
        (np.ones(rows.size, np.float32), (rows, videos)), shape=(n_rows, n_items)
    )
    seen = rec.seen_
    if mask is not None:
        seen = (seen + interaction_matrix(space, mask)).tocsr()
        seen.data[:] = 1.0
    empty = sp.csr_matrix((len(cold_ids), n_items), dtype=np.float32)
    train_m = sp.vstack([seen, empty]).tocsr()
    user_idx = np.concatenate(
        [np.arange(n_known), space.users.encode(cold_ids) if cold_ids else np.empty(0, np.int64)]
    ).astype(np.int64)
    at = np.full(n_rows, np.nan)
    if "timestamp" in positives.columns:
        first = (
            positives.with_columns(pl.Series("__row", rows))
            .group_by("__row")
            .agg(pl.col("timestamp").min().dt.epoch("us").cast(pl.Float64) / 1e6)
        )
        at[first.get_column("__row").to_numpy()] = first.get_column("timestamp").to_numpy()
    return EvalData(
        train=train_m,
        test=test_m,
        user_idx=user_idx,
        at_seconds=at,
        n_known=n_known,
        cold_videos=rec.popularity_ == 0,
    )


def _reelrec_fn(rec: Recommender, data: EvalData):  # type: ignore[no-untyped-def]
    items = rec.index_.get_vectors(np.arange(data.train.shape[1]))

    def recommend(rows: Idx, k: int, exclude: sp.csr_matrix) -> tuple[Idx, np.ndarray]:
        queries = rec.encode_users(data.user_idx[rows], data.at_seconds[rows])
        masks = [
            exclude.indices[a:b].astype(np.int64)
            for a, b in zip(exclude.indptr[:-1], exclude.indptr[1:], strict=True)
        ]
        return rec.index_.search(queries, k, exclude=masks)

    def score(rows: Idx) -> np.ndarray:
        queries = rec.encode_users(data.user_idx[rows], data.at_seconds[rows])
        return queries @ items.T

    return recommend, score


def _baseline_fn(model: object, fallback: MostPopular, data: EvalData):  # type: ignore[no-untyped-def]
    """Known users go to ``model``; cold users (no training rows) get MostPopular."""

    def recommend(rows: Idx, k: int, exclude: sp.csr_matrix) -> tuple[Idx, np.ndarray]:
        ids = np.full((rows.size, k), -1, np.int64)
        scores = np.full((rows.size, k), -np.inf, np.float32)
        known = rows < data.n_known
        for mask, fitted in ((known, model), (~known, fallback)):
            if mask.any():
                users = np.where(rows[mask] < data.n_known, rows[mask], 0)
                got = fitted.recommend(users, k, exclude=exclude[np.flatnonzero(mask)])  # type: ignore[attr-defined]
                ids[mask], scores[mask] = got
        return ids, scores

    def score(rows: Idx) -> np.ndarray:
        out = np.zeros((rows.size, data.train.shape[1]), np.float32)
        known = rows < data.n_known
        if known.any():
            out[known] = model.score(rows[known])  # type: ignore[attr-defined]
        if (~known).any():
            out[~known] = fallback.score(np.zeros(int((~known).sum()), np.int64))
        return out

    return recommend, score


def _id_two_tower(rec: Recommender, train: Dataset, validation: pl.DataFrame | None) -> Recommender:
    cfg = rec.config.model_copy(
        update={
            "model": rec.config.model.model_copy(
                update={
                    "user_features": ["id"],
                    "item_features": ["id"],
                    "id_dropout": 0.0,
                    "user_id_dropout": 0.0,
                }
            )
        }
    )
    ablation = Recommender.from_config(Config.model_validate(cfg.model_dump()))
    return ablation.fit(train, validation=validation)


def evaluate(
    rec: Recommender,
    test: pl.DataFrame,
    ks: Sequence[int] = (10, 20, 50),
    baselines: Sequence[str] = (),
    train: Dataset | None = None,
    validation: pl.DataFrame | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics per model name (``reelrec`` and each baseline) on the same test positives.

    Every model ranks all videos; training interactions (and ``validation``, a protocol's
    validation split) are excluded. Baselines are fitted on the recommender's training
    interactions; the id-two-tower ablation early-stops on ``validation`` when given.

    Raises:
        ConfigError: an unknown baseline name, or ``id-two-tower`` without ``train``.
        DataError: the test set has no usable positives.
    """
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}")
    if "id-two-tower" in baselines and train is None:
        raise ConfigError("the id-two-tower baseline needs the training data (train=...)")
    data = evaluation_data(rec, test, validation)
    n_known = data.n_known
    user_slices = {"cold_users": np.arange(data.train.shape[0]) >= n_known}
    item_slices = {"cold_videos": data.cold_videos}
    results: dict[str, dict[str, float]] = {}
    fns = {"reelrec": _reelrec_fn(rec, data)}
    popular = MostPopular().fit(rec.seen_)
    for name in track(list(baselines), "baselines"):
        if name == "id-two-tower":
            fns[name] = _reelrec_fn(_id_two_tower(rec, train, validation), data)  # type: ignore[arg-type]
            continue
        model = {"popular": MostPopular, "ease": EASE, "als": ALS}[name]().fit(rec.seen_)
        fns[name] = _baseline_fn(model, popular, data)
    for name, (recommend, score) in fns.items():
        pool = _cold_pool(score, data, ks)
        results[name] = (
            evaluate_topk(
                recommend,
                data.train,
                data.test,
                ks=tuple(ks),
                item_popularity=np.r_[rec.popularity_],
                user_slices=user_slices,
                item_slices=item_slices,
                auc_score_fn=score,
                batch_size=512,
            )
            | pool
        )
    return results


_POOL_KEYS = ("n_users", "recall", "ndcg", "hit_rate", "mrr", "auc")


def _cold_pool(score_fn, data: EvalData, ks: Sequence[int]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The cold-start protocol: rank only videos without training interactions.

    Production feeds serve new videos from their own candidate source, so the question for the
    item tower is how well it orders the cold pool by itself (as in DropoutNet's evaluation);
    ``cold_videos/…`` answers the harder full-catalogue question. Keys: ``cold_pool/…``.
    """
    cols = np.flatnonzero(data.cold_videos)
    test = data.test[:, cols].tocsr()
    if cols.size < 2 or test.nnz == 0:
        return {}
    train = data.train[:, cols].tocsr()

    def scores(rows: Idx) -> np.ndarray:
        return np.asarray(score_fn(rows), dtype=np.float32)[:, cols]

    def recommend(rows: Idx, k: int, exclude: sp.csr_matrix) -> tuple[Idx, np.ndarray]:
        block = scores(rows)
        block[np.repeat(np.arange(rows.size), np.diff(exclude.indptr)), exclude.indices] = -np.inf
        k = min(k, block.shape[1])
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(block, top, 1), axis=1, kind="stable")
        ids = np.take_along_axis(top, order, 1)
        return ids.astype(np.int64), np.take_along_axis(block, ids, 1)

    try:
        part = evaluate_topk(
            recommend, train, test, ks=tuple(ks), auc_score_fn=scores, batch_size=512
        )
    except DataError:
        return {}
    return {
        f"cold_pool/{key}": value for key, value in part.items() if key.split("@")[0] in _POOL_KEYS
    }
