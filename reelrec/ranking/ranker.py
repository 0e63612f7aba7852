"""The fitted ranker: NumPy runtime, engagement counts, and the assembly of its training set.

``Ranker.fit`` receives the towers as callables (the recommender composes them), so this
stage does not import the training stage.

Training set: the latest ``train_fraction`` of the training impressions by time (default all;
all of them for data without time), at most ``max_examples`` (seeded sample). For each
impression the history, the tower's user vector and the engagement aggregates come from events
strictly before it (no time: every other event, leave-one-out). The towers were trained on the
same log, so their item vectors have seen these positives and the tower score is optimistic
on them; point-in-time user vectors limit that, and the latest-slice option trades data for
less memorisation (measured in ``benchmarks/bench_ranker_quality.py``). Unexposed retrieval
candidates are added as non-engaged impressions (``sampled_negatives`` per row, every label 0):
without them the ranker learns P(engage | shown) only and ranks retrieved candidates below the
tower order (measured on the tiny world), and rated data (MovieLens) has no non-engaged rows.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reelrec.artifacts import atomic_write_json
from reelrec.config import RankingConfig
from reelrec.errors import ArtifactError, DataError
from reelrec.features.definitions import VideoArrays
from reelrec.features.history import HistoryWindow, InteractionLog
from reelrec.features.registry import VIDEO_STATS
from reelrec.ranking.features import (
    CountTable,
    RankerInputs,
    build_inputs,
    prior_rates,
    stats_features,
    windows_at,
)
from reelrec.ranking.metrics import head_report
from reelrec.ranking.model import HEADS
from reelrec.ranking.runtime import RankerRuntime
from reelrec.ranking.scoring import head_weights
from reelrec.ranking.train import Impressions, fit_ranker
from reelrec.types import Idx

EncodeUsers = Callable[[Idx, HistoryWindow, np.ndarray], np.ndarray]
Candidates = Callable[[Idx], Idx]
CHUNK = 8192


@dataclass(slots=True, kw_only=True)
class Ranker:
    """A fitted ranker and the video engagement counts it reads at serving time."""

    runtime: RankerRuntime
    counts: np.ndarray
    prior: np.ndarray
    n_tags: int
    history_length: int
    report: dict[str, Any] = field(default_factory=dict)
    _static: np.ndarray | None = field(default=None, repr=False, compare=False)

    def stats(self, video_idx: Idx, live: np.ndarray | None = None) -> np.ndarray:
        """``[n, 6]`` engagement aggregates (videos unseen in training read as the prior).

        Args:
            video_idx: ``[n]`` dense video indices.
            live: ``[n, len(VIDEO_STATS)]`` live aggregates since training
                (``Recommender.video_stats``): their played views and like / completion /
                share rates are added to the training counts.
        """
        known = (video_idx >= 0) & (video_idx < self.counts.shape[0])
        if live is None:  # serving without live events: one gather of precomputed rows
            if self._static is None:
                self._static = np.vstack(
                    [
                        stats_features(self.counts, self.prior),
                        stats_features(np.zeros((1, 6)), self.prior),
                    ]
                )
            return np.asarray(self._static[np.where(known, video_idx, self.counts.shape[0])])
        counts = np.where(known[:, None], self.counts[np.where(known, video_idx, 0)], 0.0)
        if live is not None:
            col = {name: j for j, name in enumerate(VIDEO_STATS)}
            views = live[:, col["views"]].astype(np.float64)
            counts = counts.copy()
            counts[:, 0] += views
            counts[:, 3] += views * live[:, col["like_rate"]]
            counts[:, 4] += views * live[:, col["completion_rate"]]
            counts[:, 5] += views * live[:, col["share_rate"]]
        return stats_features(counts, self.prior)

    def score(
        self, x: RankerInputs, catalog: VideoArrays
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows [R, F], feed score [R], heads [R, len(HEADS)])``."""
        rows = build_inputs(x, catalog, self.n_tags)
        score, heads = self.runtime.score(rows)
        return rows, score, heads

    @classmethod
    def fit(
        cls,
        imp: Impressions,
        *,
        log: InteractionLog,
        catalog: VideoArrays,
        n_tags: int,
        encode_users: EncodeUsers,
        item_vectors: np.ndarray,
        candidates: Candidates | None,
        cfg: RankingConfig,
        history_length: int,
    ) -> Ranker:
        """Assemble the training set from impressions ``imp`` and train (see module doc)."""
        if len(imp) == 0:
            raise DataError("no impressions with known users and videos to train the ranker on")
        table = CountTable.build(imp.video, imp.time, imp.counts, item_vectors.shape[0])
        totals = table.totals()
        prior = prior_rates(totals.sum(axis=0))
        chosen = _choose(imp, cfg)
        rows = imp.take(chosen)
        own = rows.counts
        if candidates is not None and cfg.sampled_negatives > 0:
            rows, own = _with_negatives(rows, own, candidates, cfg)
        timed = ~np.isnan(rows.time)
        at = np.where(timed, rows.time, np.inf)
        counts = table.before(rows.video, at)
        counts = np.where(timed[:, None], counts, counts - own)  # leave-one-out without time
        shape = (prior, n_tags, history_length)
        x = _training_rows(rows, counts, log, catalog, encode_users, item_vectors, shape)
        model, available, losses = fit_ranker(x, rows.labels, rows.mask, cfg)
        runtime = RankerRuntime.from_torch(
            model, available=available, head_weights=head_weights(cfg), watch_cap=cfg.watch_cap
        )
        ranker = cls(
            runtime=runtime,
            counts=totals,
            prior=prior,
            n_tags=n_tags,
            history_length=history_length,
        )
        heads = ranker.runtime.heads(x)
        ranker.report = {
            "examples": len(rows),
            "losses": losses,
            "available": dict(zip(HEADS, available.tolist(), strict=True)),
            "train": head_report(
                heads, rows.labels, rows.mask, available, HEADS, 1.0 / cfg.watch_cap
            ),
        }
        return ranker

    def save(self, folder: Path) -> None:
        """Write the runtime, counts and metadata into ``folder``."""
        self.runtime.save(folder)
        with (folder / "counts.npz").open("wb") as fh:
            np.savez(fh, counts=self.counts, prior=self.prior)
        atomic_write_json(
            folder / "meta.json",
            {"n_tags": self.n_tags, "history_length": self.history_length, "report": self.report},
        )

    @classmethod
    def load(cls, folder: Path) -> Ranker:
        """Read what ``save`` wrote."""
        runtime = RankerRuntime.load(folder)
        try:
            meta = json.loads((folder / "meta.json").read_text("utf-8"))
            with np.load(folder / "counts.npz") as data:
                counts, prior = data["counts"], data["prior"]
        except (OSError, ValueError, KeyError) as e:
            raise ArtifactError(f"{folder}: cannot read the ranker ({e}); retrain") from e
        return cls(
            runtime=runtime,
            counts=counts,
            prior=prior,
            n_tags=int(meta["n_tags"]),
            history_length=int(meta["history_length"]),
            report=meta.get("report", {}),
        )


def _training_rows(
    rows: Impressions,
    counts: np.ndarray,
    log: InteractionLog,
    catalog: VideoArrays,
    encode_users: EncodeUsers,
    item_vectors: np.ndarray,
    shape: tuple[np.ndarray, int, int],
) -> np.ndarray:
    """Point-in-time ranker rows of training impressions, in chunks of distinct (user, time).

    Sampled negatives share their impression's user and time, so each distinct pair's history
    and tower vector is computed once.
    """
    prior, n_tags, history_length = shape
    time_key = np.where(np.isnan(rows.time), -np.inf, rows.time)
    keys = np.rec.fromarrays([rows.user, time_key])
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(0, first.size + CHUNK, CHUNK))
    out = np.empty((len(rows), 0), np.float32)
    for a, b in itertools.pairwise(bounds):
        part = order[a:b]
        if part.size == 0:
            continue
        lo = int(inverse[part].min())
        pairs = first[lo : int(inverse[part].max()) + 1]
        users, times = rows.user[pairs], rows.time[pairs]
        window = windows_at(log, users, times, history_length)
        x = RankerInputs(
            user_vec=encode_users(users, window, times),
            window=window,
            at_seconds=times,
            row_user=inverse[part] - lo,
            cand=rows.video[part],
            item_vec=item_vectors[rows.video[part]],
            stats=stats_features(counts[part], prior),
        )
        block = build_inputs(x, catalog, n_tags)
        if out.shape[1] == 0:
            out = np.empty((len(rows), block.shape[1]), np.float32)
        out[part] = block
    return out


def _choose(imp: Impressions, cfg: RankingConfig) -> Idx:
    """The latest ``train_fraction`` by time (all rows without time), capped, seeded."""
    rows = np.arange(len(imp))
    timed = ~np.isnan(imp.time)
    if timed.all() and cfg.train_fraction < 1.0:
        cut = np.quantile(imp.time, 1.0 - cfg.train_fraction)
        rows = rows[imp.time >= cut]
    if rows.size > cfg.max_examples:
        rng = np.random.default_rng(cfg.seed)
        rows = np.sort(rng.choice(rows, size=cfg.max_examples, replace=False))
    return rows


def _with_negatives(
    rows: Impressions, own: np.ndarray, candidates: Candidates, cfg: RankingConfig
) -> tuple[Impressions, np.ndarray]:
    """Add ``sampled_negatives`` unexposed retrieval candidates per row, every label 0."""
    users, inverse = np.unique(rows.user, return_inverse=True)
    pool = candidates(users)  # [U, C] -1 padded, the user's seen videos excluded
    rng = np.random.default_rng([cfg.seed, 1])
    n = len(rows) * cfg.sampled_negatives
    source = np.repeat(np.arange(len(rows)), cfg.sampled_negatives)
    width = np.maximum((pool >= 0).sum(axis=1), 1)[inverse[source]]
    pick = np.floor(rng.random(n) * width).astype(np.int64)
    video = pool[inverse[source], pick]
    keep = video >= 0
    source, video = source[keep], video[keep]
    mask = np.ones((source.size, len(HEADS)), dtype=bool)
    negatives = Impressions(
        user=rows.user[source],
        video=video,
        time=rows.time[source],
        labels=np.zeros((source.size, len(HEADS)), np.float32),
        mask=mask,
        counts=np.zeros((source.size, own.shape[1])),
    )
    return rows.concat(negatives), np.concatenate([own, negatives.counts])


__all__ = ["Ranker"]
