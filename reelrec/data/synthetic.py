"""The synthetic short-video world: seeded, deterministic logs plus the ground truth behind them.

``make_world(size, seed)`` draws users, creators and videos (``world_catalog``), shows videos to
users through a logging policy (interest-matched, popular, or fresh; never before upload or
signup; a user sees a video at most once), and scores every impression with the ground-truth
response model (``world_model.GroundTruth.sample``). ``write_world`` saves the data folder and
the truth beside it (``truth/``); ``load_truth`` reads the truth back for simulators.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from reelrec.artifacts import staged_dir
from reelrec.data.readers import Dataset, write_dataset
from reelrec.data.schema import UTC_DATETIME
from reelrec.data.world_catalog import (
    ATTRIBUTES,
    DAY,
    TOPICS,
    Timeline,
    Users,
    Videos,
    WorldSize,
    categorical_rows,
    make_creators,
    make_users,
    make_videos,
    normalise,
    sorted_search,
    vocabulary,
)
from reelrec.data.world_model import GroundTruth
from reelrec.errors import ConfigError
from reelrec.progress import bar

__all__ = ["SIZES", "GroundTruth", "World", "WorldSize", "load_truth", "make_world", "write_world"]

SIZES: dict[str, WorldSize] = {
    "tiny": WorldSize(
        name="tiny", n_users=600, n_videos=3_000, n_creators=150, n_interactions=30_000
    ),
    "small": WorldSize(
        name="small", n_users=20_000, n_videos=100_000, n_creators=5_000, n_interactions=1_000_000
    ),
    "full": WorldSize(
        name="full",
        n_users=250_000,
        n_videos=1_000_000,
        n_creators=40_000,
        n_interactions=10_600_000,
    ),
}
SPAN_END = 1_717_200_000  # 2024-06-01T00:00:00Z: fixed, so a seed always gives the same data
FRESH_WINDOW = 2 * DAY
CHANNELS = (0.65, 0.85)  # cumulative shares: interest-matched, popular, fresh
TRUTH_DIR = "truth"
_USERS_PER_CHUNK = 8192
_TOPIC_KEY = 10**10
_ID_WIDTH = {"u": 6, "v": 7, "c": 5}


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class World:
    """A generated world: the logged ``dataset`` and the ``truth`` that produced it."""

    dataset: Dataset
    truth: GroundTruth
    size: WorldSize
    seed: int


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class _Exposure:
    """Sorted views of the catalogue for drawing which video an impression shows."""

    upload: np.ndarray  # videos are sorted by upload, so position = video index
    prefix: np.ndarray  # prefix sums of popularity, length n + 1
    by_topic: np.ndarray  # video indices sorted by (topic, upload)
    topic_keys: np.ndarray  # topic * _TOPIC_KEY + upload, in by_topic order
    topic_start: np.ndarray  # where each topic's run begins in by_topic (length n_topics + 1)
    topic_prefix: np.ndarray


def _exposure(videos: Videos, n_topics: int) -> _Exposure:
    keys = videos.topic.astype(np.int64) * _TOPIC_KEY + videos.upload
    by_topic = np.argsort(keys, kind="stable")
    return _Exposure(
        upload=videos.upload,
        prefix=np.concatenate([[0.0], np.cumsum(videos.popularity)]),
        by_topic=by_topic,
        topic_keys=keys[by_topic],
        topic_start=np.searchsorted(keys[by_topic], np.arange(n_topics + 1) * _TOPIC_KEY),
        topic_prefix=np.concatenate([[0.0], np.cumsum(videos.popularity[by_topic])]),
    )


def _weighted_in_range(
    prefix: np.ndarray, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Positions in ``[lo, hi)`` drawn proportionally to weights given by their prefix sums."""
    r = prefix[lo] + rng.random(len(lo)) * (prefix[hi] - prefix[lo])
    out: np.ndarray = np.clip(sorted_search(prefix, r) - 1, lo, np.maximum(hi - 1, lo))
    return out


def _show(
    ex: _Exposure, interest: np.ndarray, local: np.ndarray, t: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The logging policy: which video each impression at time ``t`` shows (uploaded by ``t``).

    ``interest`` holds the chunk's users' topic interests; ``local`` indexes its rows; ``t``
    is sorted, which keeps the searches in cache.
    """
    channel = np.searchsorted(CHANNELS, rng.random(len(t)), side="right")
    video = np.empty(len(t), dtype=np.int64)
    pick = np.flatnonzero(channel == 0)
    topic = categorical_rows(interest, local[pick], rng).astype(np.int64)
    key = topic * _TOPIC_KEY + t[pick]
    by_key = np.argsort(key, kind="stable")
    pick, topic, key = pick[by_key], topic[by_key], key[by_key]
    lo = ex.topic_start[topic]
    hi = np.searchsorted(ex.topic_keys, key, side="right")
    ok = hi > lo
    video[pick[ok]] = ex.by_topic[_weighted_in_range(ex.topic_prefix, lo[ok], hi[ok], rng)]
    channel[pick[~ok]] = 1
    pick = np.flatnonzero(channel == 2)
    lo = np.searchsorted(ex.upload, t[pick] - FRESH_WINDOW, side="left")
    hi = np.searchsorted(ex.upload, t[pick], side="right")
    ok = hi > lo
    video[pick[ok]] = lo[ok] + (rng.random(int(ok.sum())) * (hi[ok] - lo[ok])).astype(np.int64)
    channel[pick[~ok]] = 1
    pick = np.flatnonzero(channel == 1)
    hi = np.searchsorted(ex.upload, t[pick], side="right")
    video[pick] = _weighted_in_range(ex.prefix, np.zeros_like(hi), hi, rng)
    return video


def _times(users: Users, user: np.ndarray, tl: Timeline, rng: np.random.Generator) -> np.ndarray:
    """Impression times after signup, inside the span, near each user's active hours."""
    first = np.maximum(users.signup[user], tl.start)
    anytime = first + (rng.random(len(user)) * (tl.end - first)).astype(np.int64)
    hour = users.peak_hour[user] + users.hour_spread[user] * rng.standard_normal(len(user))
    t = anytime // DAY * DAY + (np.mod(hour, 24.0) * 3600).astype(np.int64)
    t = np.where(t < first, t + DAY, t)
    t = np.where(t >= tl.end, t - DAY, t)
    out: np.ndarray = np.where((t < first) | (t >= tl.end), anytime, t)
    return out


def _repeats(user: np.ndarray, video: np.ndarray, n_videos: int) -> np.ndarray:
    """True for every showing of a (user, video) pair after its first (arrays in time order)."""
    key = user * n_videos + video
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    repeat = np.empty(len(key), dtype=bool)
    repeat[order] = np.concatenate([[False], sorted_key[1:] == sorted_key[:-1]])
    return repeat


def _chunk(
    users: Users, ex: _Exposure, lo: int, hi: int, tl: Timeline, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Impressions (user, video, time) of users ``lo .. hi-1``, each pair shown at most once.

    Repeated pairs are redrawn once; the few that repeat again are dropped.
    """
    local = np.repeat(np.arange(hi - lo), users.n_impressions[lo:hi])
    t = _times(users, local + lo, tl, rng)
    order = np.argsort(t * (hi - lo) + local, kind="stable")
    local, t = local[order], t[order]
    user = local + lo
    interest = users.interest[lo:hi]
    video = _show(ex, interest, local, t, rng)
    repeat = _repeats(user, video, len(ex.upload))
    video[repeat] = _show(ex, interest, local[repeat], t[repeat], rng)
    keep = ~_repeats(user, video, len(ex.upload))
    return user[keep], video[keep], t[keep]


def _impressions(
    users: Users, ex: _Exposure, truth: GroundTruth, tl: Timeline, seed: int
) -> dict[str, np.ndarray]:
    """All impressions with their sampled responses, sorted by time then user."""
    parts: list[dict[str, np.ndarray]] = []
    n_users = len(users.signup)
    with bar("Synthetic impressions", total=n_users) as step:
        for k, lo in enumerate(range(0, n_users, _USERS_PER_CHUNK)):
            hi = min(lo + _USERS_PER_CHUNK, n_users)
            rng = np.random.default_rng(np.random.SeedSequence([seed, 1, k]))
            user, video, t = _chunk(users, ex, lo, hi, tl, rng)
            part = truth.sample(user, video, rng)
            part |= {"user": user.astype(np.int32), "video": video.astype(np.int32), "t": t}
            parts.append(part)
            step.advance(hi - lo, info=f"{sum(len(p['t']) for p in parts):,} rows")
    cols = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.argsort(cols["t"] * n_users + cols["user"], kind="stable")  # sorted runs: fast
    return {key: value[order] for key, value in cols.items()}


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(_ID_WIDTH[prefix], len(str(n - 1)))
    return np.strings.add(prefix, np.strings.zfill(np.arange(n).astype(f"U{width}"), width))


def _timestamps(seconds: np.ndarray) -> pl.Series:
    return pl.Series(seconds.astype(np.int64) * 1_000_000).cast(UTC_DATETIME)


def _lists(indices: np.ndarray, strings: tuple[str, ...]) -> pl.Series:
    """A ``list[str]`` column from an (n × width) index matrix padded with −1."""
    present = indices >= 0
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int64)
    values = pl.Series(strings).gather(indices[present]).to_arrow()
    return pl.Series(pa.LargeListArray.from_arrays(pa.array(offsets), values))


def _interactions_frame(rows: dict[str, np.ndarray], truth: GroundTruth) -> pl.DataFrame:
    user_ids, video_ids = pl.Series(truth.user_ids), pl.Series(truth.video_ids)
    return pl.DataFrame(
        {
            "user_id": user_ids.gather(rows["user"]),
            "video_id": video_ids.gather(rows["video"]),
            "timestamp": _timestamps(rows["t"]),
            "watch_seconds": rows["watch_seconds"],
            "video_seconds": truth.video_duration[rows["video"]],
            **{flag: rows[flag] for flag in ("liked", "shared", "commented", "followed")},
        }
    )


def _videos_frame(videos: Videos, truth: GroundTruth, n_topics: int) -> pl.DataFrame:
    vocab = vocabulary(n_topics)
    creators = pl.Series(_ids("c", int(videos.creator.max(initial=0)) + 1))
    return pl.DataFrame(
        {
            "video_id": truth.video_ids,
            "creator_id": creators.gather(videos.creator),
            "tags": _lists(videos.tags, vocab.tags),
            "duration_seconds": videos.duration,
            "upload_timestamp": _timestamps(videos.upload),
            "title": _lists(videos.title, vocab.words).list.join(" "),
            "unsafe": videos.unsafe,
            "visual_vector": pl.Series(videos.visual).cast(pl.List(pl.Float32)),
        }
    )


def _users_frame(users: Users, truth: GroundTruth) -> pl.DataFrame:
    columns: dict[str, object] = {"user_id": truth.user_ids}
    for name, (categories, _) in ATTRIBUTES.items():
        columns[name] = pl.Series(categories).gather(users.attributes[name])
    columns["signup_timestamp"] = _timestamps(users.signup)
    return pl.DataFrame(columns)


def _truth(size: WorldSize, seed: int, tl: Timeline, users: Users, videos: Videos) -> GroundTruth:
    return GroundTruth(
        seed=seed,
        size=size.name,
        topics=tuple(TOPICS[: size.n_topics]),
        span_start=tl.start,
        span_end=tl.end,
        cold_cutoff=tl.cold_cutoff,
        fresh_window=FRESH_WINDOW,
        user_ids=_ids("u", len(users.signup)),
        user_latent=users.latent,
        user_interest=users.interest,
        user_signup=users.signup,
        user_cold=users.cold,
        user_activity=users.activity,
        user_peak_hour=users.peak_hour,
        video_ids=_ids("v", len(videos)),
        video_latent=videos.latent,
        video_topic=videos.topic.astype(np.int16),
        video_creator=videos.creator.astype(np.int32),
        video_quality=videos.quality.astype(np.float32),
        video_duration=videos.duration,
        video_upload=videos.upload,
        video_popularity=videos.popularity,
        video_unsafe=videos.unsafe,
        video_cold=videos.upload >= tl.cold_cutoff,
        video_duplicate_of=videos.duplicate_of,
    )


def _resolve(size: str | WorldSize) -> WorldSize:
    if isinstance(size, WorldSize):
        spec = size
    elif size in SIZES:
        spec = SIZES[size]
    else:
        raise ConfigError(f"unknown world size {size!r}; expected one of {', '.join(SIZES)}")
    if not 1 <= spec.n_topics <= len(TOPICS) or round(spec.back_catalog_share * spec.n_videos) < 1:
        raise ConfigError(
            f"world size {spec.name!r}: n_topics must be 1..{len(TOPICS)} and at least one video "
            "must be uploaded before the span (back_catalog_share × n_videos ≥ 1)"
        )
    return spec


def make_world(size: str | WorldSize = "tiny", seed: int = 0) -> World:
    """Generate the synthetic world for ``size`` (a name in ``SIZES`` or a ``WorldSize``).

    The same ``(size, seed)`` always gives identical frames and truth.

    Raises:
        ConfigError: unknown size name or inconsistent ``WorldSize``.
    """
    spec = _resolve(size)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    end = SPAN_END
    tl = Timeline(
        start=end - spec.span_days * DAY,
        end=end,
        cold_cutoff=end - round(spec.cold_span_share * spec.span_days * DAY),
        catalog_start=end - (spec.span_days + 60) * DAY,
    )
    topic_share = rng.permutation(1.0 / np.arange(1, spec.n_topics + 1) ** 0.7)
    topic_share /= topic_share.sum()
    centroids = normalise(rng.standard_normal((spec.n_topics, spec.latent_dim)))
    users = make_users(spec, tl, centroids, topic_share, rng)
    videos = make_videos(spec, tl, make_creators(spec, topic_share, rng), centroids, rng)
    truth = _truth(spec, seed, tl, users, videos)
    rows = _impressions(users, _exposure(videos, spec.n_topics), truth, tl, seed)
    dataset = Dataset(
        interactions=_interactions_frame(rows, truth),
        videos=_videos_frame(videos, truth, spec.n_topics),
        users=_users_frame(users, truth),
    )
    return World(dataset=dataset, truth=truth, size=spec, seed=seed)


def write_world(world: World, out_dir: str | Path) -> Path:
    """Write the data folder (Parquet) and ``truth/`` beside it, atomically; returns ``out_dir``."""
    out_dir = Path(out_dir)
    with staged_dir(out_dir) as tmp:
        write_dataset(world.dataset, tmp)
        world.truth.save(tmp / TRUTH_DIR)
    return out_dir


def load_truth(data_dir: str | Path) -> GroundTruth:
    """The ground truth saved by ``write_world`` in ``data_dir``.

    Raises:
        DataError: ``data_dir`` holds no (complete) ground truth.
    """
    return GroundTruth.load(Path(data_dir) / TRUTH_DIR)
