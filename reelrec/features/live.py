"""The live-state half of ``Recommender`` (issue 4): online store, events, ingested videos.

``Recommender`` delegates its ``history``, ``apply_events``, ``add_videos``, ``video_idx``,
``video_ids_of``, ``seen_row`` (live part) and ``video_stats`` methods here, keeping the
composition root short. The functions only use the recommender's public state (``space_``,
``log_``, ``catalog_``, ``index_``, ``store_``, ``encode_videos``), so this module stays in the
features layer. Ingested videos get dense indices after the training vocabulary, in ingestion
order; their catalogue rows and index ids are those indices.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from reelrec.artifacts import atomic_write_json
from reelrec.data.schema import VIDEOS, validate
from reelrec.errors import ArtifactError, UnknownIdError
from reelrec.features.events import ApplyReport, Rejected, parse_events
from reelrec.features.history import HistoryWindow
from reelrec.features.online import InMemoryStore, OnlineStore, open_store
from reelrec.features.registry import VIDEO_STATS
from reelrec.features.transforms import dwell_weight
from reelrec.types import Idx

if TYPE_CHECKING:
    from reelrec.recommender import Recommender

STORE_DIR = "store"
SNAPSHOT = "state.json"
LIVE_JSON = "live.json"


def init_live(rec: Recommender, run_dir: Path | None) -> OnlineStore:
    """Open ``rec.store_`` and restore ingested videos from ``run_dir/store`` when present."""
    store_dir = None if run_dir is None else Path(run_dir) / STORE_DIR
    rec.new_video_ids_ = []
    rec.new_video_pos_ = {}
    rec.clock_ = float(rec.space_.reference_seconds)
    if store_dir is not None and (store_dir / LIVE_JSON).is_file():
        raw = json.loads((store_dir / LIVE_JSON).read_text(encoding="utf-8"))
        rec.new_video_ids_ = list(raw["new_video_ids"])
        rec.new_video_pos_ = {v: i for i, v in enumerate(rec.new_video_ids_)}
        rec.clock_ = max(rec.clock_, float(raw["clock"]))
        expected = rec.space_.videos.n_known + len(rec.new_video_ids_)
        if len(rec.catalog_) != expected:
            raise ArtifactError(
                f"{store_dir}: {len(rec.new_video_ids_)} ingested videos recorded but the "
                f"catalogue has {len(rec.catalog_)} rows (expected {expected}); re-run ingest"
            )
    snapshot = None if store_dir is None else store_dir / SNAPSHOT
    rec.store_ = open_store(rec.config.store, rec.config.features.history_length, snapshot)
    return rec.store_


def save_live(rec: Recommender, run_dir: Path) -> None:
    """Persist ingested videos, the clock and (embedded store) a snapshot into ``run_dir``."""
    store_dir = Path(run_dir) / STORE_DIR
    if isinstance(rec.store_, InMemoryStore):
        rec.store_.save(store_dir / SNAPSHOT)
    atomic_write_json(
        store_dir / LIVE_JSON, {"new_video_ids": rec.new_video_ids_, "clock": rec.clock_}
    )


def video_idx_of(rec: Recommender, video_ids: Sequence[str]) -> Idx:
    """Training-vocabulary index, else ``n_known + ingestion position``, else -1."""
    ids = list(video_ids)
    if not ids:
        return np.empty(0, dtype=np.int64)
    n_known = rec.space_.videos.n_known
    idx = rec.space_.videos.encode(ids)
    out = np.where((idx >= 0) & (idx < n_known), idx, -1).astype(np.int64)
    for row in np.flatnonzero(out < 0).tolist():
        pos = rec.new_video_pos_.get(ids[row])
        if pos is not None:
            out[row] = n_known + pos
    return out


def video_ids_at(rec: Recommender, idx: Idx) -> list[str]:
    """External ids of dense indices; ``UnknownIdError`` for any other index."""
    n_known, known_ids = rec.space_.videos.n_known, rec.space_.videos.ids
    out = []
    for i in np.asarray(idx, dtype=np.int64).tolist():
        if 0 <= i < n_known:
            out.append(known_ids[i])
        elif 0 <= i - n_known < len(rec.new_video_ids_):
            out.append(rec.new_video_ids_[i - n_known])
        else:
            raise UnknownIdError(
                f"video index {i} is neither a training video (0..{n_known - 1}) nor one of "
                f"{len(rec.new_video_ids_)} ingested videos"
            )
    return out


def tower_ids(rec: Recommender, video: Idx) -> Idx:
    """History ids for the towers' id table: ingested videos (≥ n_known) → their OOV bucket."""
    n_known = rec.space_.videos.n_known
    new = video >= n_known
    if not new.any():
        return video
    out = video.copy()
    names = [rec.new_video_ids_[i - n_known] for i in video[new].tolist()]
    out[new] = [max(rec.space_.videos.oov_bucket(v), -1) for v in names]
    return out


def _user_ids(rec: Recommender, user_idx: Idx) -> list[str | None]:
    return rec.space_.users.decode(np.asarray(user_idx, dtype=np.int64))


def live_history(
    rec: Recommender, user_idx: Idx, user_ids: Sequence[str | None] | None = None
) -> HistoryWindow:
    """Training-log history followed by the live history, last ``history_length`` kept.

    ``user_ids``: the external ids, when the caller has them: the live history of a user
    unknown at training time (an OOV index) is found by id.
    """
    n = rec.config.features.history_length
    user_idx = np.asarray(user_idx, dtype=np.int64)
    base = rec.log_.latest(user_idx, n)
    ids = _user_ids(rec, user_idx) if user_ids is None else list(user_ids)
    rows = [r for r, u in enumerate(ids) if u is not None]
    if not rows:
        return base
    live = rec.store_.user_features([ids[r] or "" for r in rows], rec.clock_)
    video, dwell, liked = base.video.copy(), base.dwell.copy(), base.liked.copy()
    for r, features in zip(rows, live, strict=True):
        entries = features["history"]
        if not entries:
            continue
        vids = video_idx_of(rec, [e[1] for e in entries])
        keep = vids >= 0
        valid = base.video[r] >= 0
        v = np.concatenate([base.video[r][valid], vids[keep]])[-n:]
        ratio = np.array([e[2] for e in entries], dtype=np.float64)[keep]
        d = np.concatenate([base.dwell[r][valid], dwell_weight(ratio)])[-n:]
        lk = np.array([float(e[3]) for e in entries], dtype=np.float32)[keep]
        lk = np.concatenate([base.liked[r][valid], lk])[-n:]
        video[r], dwell[r], liked[r] = -1, 0.0, 0.0
        if v.size:
            video[r, -v.size :], dwell[r, -v.size :], liked[r, -v.size :] = v, d, lk
    return HistoryWindow(video=video, dwell=dwell, liked=liked)


def live_seen(rec: Recommender, user: int, trained: Idx, user_id: str | None = None) -> Idx:
    """``trained`` plus the videos of the user's live events (found by ``user_id`` if given)."""
    if user_id is None:
        user_id = _user_ids(rec, np.array([user], dtype=np.int64))[0]
    if user_id is None:
        return trained
    seen = rec.store_.user_features([user_id], rec.clock_)[0]["seen"]
    if not seen:
        return trained
    extra = video_idx_of(rec, seen)
    return np.unique(np.concatenate([trained, extra[extra >= 0]]))


def apply_live_events(
    rec: Recommender, events: pl.DataFrame | Sequence[Mapping[str, object]]
) -> ApplyReport:
    """Validate, check videos against the catalogue, and apply to ``rec.store_``."""
    good, failed = parse_events(events)
    idx = video_idx_of(rec, [e.video_id for _, e in good])
    valid = []
    for (position, event), i in zip(good, idx.tolist(), strict=True):
        if i < 0:
            reason = (
                f"unknown_video: {event.video_id!r} is not in the catalogue; "
                "add it with add_videos (reelrec ingest --videos) first"
            )
            failed.append(Rejected(position=position, event_id=event.event_id, reason=reason))
        else:
            valid.append((position, event))
    report = rec.store_.apply_events([e for _, e in valid])
    failed += [replace(r, position=valid[r.position][0]) for r in report.failed]
    if valid:
        rec.clock_ = max(rec.clock_, max(e.timestamp for _, e in valid))
    failed.sort(key=lambda r: r.position)
    return ApplyReport(applied=report.applied, duplicates=report.duplicates, failed=failed)


def add_live_videos(rec: Recommender, videos: pl.DataFrame) -> list[str]:
    """Encode and index videos not yet known; returns the ids added."""
    frame = validate(videos, VIDEOS, "videos")
    known = video_idx_of(rec, frame.get_column("video_id").to_list()) >= 0
    fresh = frame.filter(pl.Series(~known))
    if fresh.height == 0:
        return []
    arrays = rec.space_.encode_videos(fresh)
    start = len(rec.catalog_)
    vectors = rec.encode_videos(arrays, rec.space_.reference_seconds)
    rec.index_.add(np.arange(start, start + fresh.height, dtype=np.int64), vectors)
    rec.catalog_ = rec.catalog_.concat(arrays)
    added = fresh.get_column("video_id").to_list()
    for video_id in added:
        rec.new_video_pos_[video_id] = len(rec.new_video_ids_)
        rec.new_video_ids_.append(video_id)
    return added


def live_video_stats(rec: Recommender, video_idx: Idx) -> np.ndarray:
    """``[n, len(VIDEO_STATS)]`` float32 engagement aggregates at the store's clock."""
    idx = np.asarray(video_idx, dtype=np.int64).reshape(-1)
    out = np.zeros((idx.size, len(VIDEO_STATS)), dtype=np.float32)
    n_total = rec.space_.videos.n_known + len(rec.new_video_ids_)
    rows = np.flatnonzero((idx >= 0) & (idx < n_total))
    if rows.size:
        ids = video_ids_at(rec, idx[rows])
        for row, features in zip(rows, rec.store_.video_features(ids, rec.clock_), strict=True):
            out[row] = [features[name] for name in VIDEO_STATS]
    return out


__all__ = [
    "add_live_videos",
    "apply_live_events",
    "init_live",
    "live_history",
    "live_seen",
    "live_video_stats",
    "save_live",
    "tower_ids",
    "video_ids_at",
    "video_idx_of",
]
