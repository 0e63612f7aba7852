"""Who and what lives in the synthetic world: users, creators and videos with their latent truth.

Everything is drawn with numpy from an explicit ``np.random.Generator``; times are epoch seconds.
Users are ordered by signup and videos by upload, so ids grow with time (late = cold).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

DAY = 86_400
_TOPIC_NAMES = """dance comedy cooking pets gaming fitness travel beauty fashion music diy tech cars
football basketball science history art education finance news movies anime parenting nature fishing
farming makeup vlog pranks magic asmr baking yoga running cycling skate surf photography languages
books horror memes gardening crafts motorbikes camping chess"""
TOPICS: tuple[str, ...] = tuple(_TOPIC_NAMES.split())
TAG_SUFFIXES = ("challenge", "tutorial", "tips", "fails", "hacks", "live", "pro", "daily")
GENERIC_TAGS = ("fyp", "viral", "trending", "foryou", "new", "funny", "wow", "daily")
_WORDS = "the my best how to new day you this insane first try watch wait for it"
GENERIC_WORDS: tuple[str, ...] = tuple(_WORDS.split())
WORDS_PER_TOPIC = 16
ATTRIBUTES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "age_bucket": (("13-17", "18-24", "25-34", "35-44", "45-54", "55+"), (8, 30, 28, 17, 10, 7)),
    "gender": (("female", "male", "other"), (48, 48, 4)),
    "region": (
        ("us", "br", "in", "id", "mx", "jp", "de", "fr", "gb", "ng", "ph", "tr"),
        (14, 12, 16, 10, 8, 6, 6, 5, 5, 7, 6, 5),
    ),
    "device": (("android", "ios", "web"), (60, 35, 5)),
}
_SYLLABLE_TEXT = "ka lo mi ru te zo na vi pe so da ri xu fe go ly ba ne qui tor"
_SYLLABLES: tuple[str, ...] = tuple(_SYLLABLE_TEXT.split())
_VOCAB_SEED = 20240601  # fixed: the vocabulary is the same in every world


@dataclass(frozen=True, slots=True, kw_only=True)
class WorldSize:
    """How big the world is, and the shares of its special slices.

    ``n_interactions`` is the number of impressions drawn; the log keeps a few percent fewer
    because a (user, video) pair that repeats is redrawn once and then dropped. Users signing
    up, and videos uploaded, in the last ``cold_span_share`` of the span are cold.
    """

    name: str
    n_users: int
    n_videos: int
    n_creators: int
    n_interactions: int
    n_topics: int = 32
    latent_dim: int = 32
    visual_dim: int = 16
    span_days: int = 30
    cold_span_share: float = 0.12
    cold_user_share: float = 0.1
    cold_video_share: float = 0.1
    back_catalog_share: float = 0.3
    duplicate_share: float = 0.025
    unsafe_share: float = 0.01


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeline:
    """The logged span ``[start, end)``; users/videos arriving from ``cold_cutoff`` on are cold."""

    start: int
    end: int
    cold_cutoff: int
    catalog_start: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Vocabulary:
    """Tag and title-word strings; topic ``k`` owns tags ``k*9 .. k*9+8`` and words ``k*16 ..``."""

    tags: tuple[str, ...]
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Users:
    """Per-user arrays, ordered by signup time."""

    latent: np.ndarray
    interest: np.ndarray
    signup: np.ndarray
    cold: np.ndarray
    activity: np.ndarray
    peak_hour: np.ndarray
    hour_spread: np.ndarray
    n_impressions: np.ndarray
    attributes: dict[str, np.ndarray]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Videos:
    """Per-video arrays, ordered by upload; ``tags``/``title`` hold vocab indices (−1 = none)."""

    latent: np.ndarray
    topic: np.ndarray
    secondary: np.ndarray
    creator: np.ndarray
    quality: np.ndarray
    duration: np.ndarray
    upload: np.ndarray
    popularity: np.ndarray
    unsafe: np.ndarray
    duplicate_of: np.ndarray
    tags: np.ndarray
    title: np.ndarray
    visual: np.ndarray

    def __len__(self) -> int:
        return len(self.topic)


def vocabulary(n_topics: int) -> Vocabulary:
    """Topic tags (``t07_dance``, ``dance_tips``), generic tags, and title words per topic."""
    rng = np.random.default_rng(_VOCAB_SEED)
    tags: list[str] = []
    words: list[str] = []
    seen = set(TOPICS) | set(GENERIC_WORDS)
    for k, name in enumerate(TOPICS[:n_topics]):
        tags += [f"t{k:02d}_{name}"] + [f"{name}_{s}" for s in TAG_SUFFIXES]
        words.append(name)
        while len(words) < (k + 1) * WORDS_PER_TOPIC:
            word = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4))))
            if word not in seen:
                seen.add(word)
                words.append(word)
    return Vocabulary(tags=(*tags, *GENERIC_TAGS), words=(*words, *GENERIC_WORDS))


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as float32."""
    x = x.astype(np.float32, copy=False)
    out: np.ndarray = x / np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    return out


def sorted_search(a: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.searchsorted(a, q, side="right")``, faster for many random queries into a large ``a``.

    Searching the queries in sorted order keeps ``a``'s search path in cache.
    """
    order = np.argsort(q)
    out = np.empty(len(q), dtype=np.int64)
    out[order] = np.searchsorted(a, q[order], side="right")
    return out


def categorical_rows(weights: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per entry of ``rows``, drawn from row ``rows[i]`` of ``weights`` (m × K).

    Vectorised via one search in the flattened, row-offset cumulative distribution.
    """
    m, k = weights.shape
    w = weights.astype(np.float64)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    flat = (cum + np.arange(m)[:, None]).ravel()
    x = rows + rng.random(len(rows)) * (1.0 - 1e-9)
    out: np.ndarray = np.clip(sorted_search(flat, x) - rows * k, 0, k - 1)
    return out


def weighted_choice(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn with replacement, proportional to ``weights``."""
    cum = np.cumsum(weights)
    out: np.ndarray = np.minimum(sorted_search(cum, rng.random(n) * cum[-1]), len(weights) - 1)
    return out


def _noise(rng: np.random.Generator, n: int, dim: int, scale: float) -> np.ndarray:
    return rng.standard_normal((n, dim), dtype=np.float32) * np.float32(scale / np.sqrt(dim))


def _signups(size: WorldSize, timeline: Timeline, rng: np.random.Generator) -> np.ndarray:
    n_cold = round(size.cold_user_share * size.n_users)
    old = timeline.start - rng.exponential(120 * DAY, size.n_users - n_cold).astype(np.int64)
    cold = rng.integers(timeline.cold_cutoff, timeline.end - 3600, n_cold)
    return np.concatenate([np.sort(old), np.sort(cold)]).astype(np.int64)


def _attributes(interest: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Categorical attributes weakly correlated with interests (so they carry some signal)."""
    out: dict[str, np.ndarray] = {}
    for name, (_, base) in ATTRIBUTES.items():
        tilt = rng.normal(0.0, 1.5, (interest.shape[1], len(base)))
        logits = np.log(np.asarray(base, dtype=np.float64)) + interest @ tilt
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        out[name] = categorical_rows(probs, np.arange(len(interest)), rng).astype(np.int8)
    return out


def make_users(
    size: WorldSize,
    timeline: Timeline,
    centroids: np.ndarray,
    topic_share: np.ndarray,
    rng: np.random.Generator,
) -> Users:
    """Users with sparse topic interests, latents, activity, active hours and impression counts."""
    n, t = size.n_users, size.n_topics
    gamma = rng.standard_gamma(0.15 * t * topic_share, size=(n, t)) + 1e-12
    interest = gamma / gamma.sum(axis=1, keepdims=True)
    latent = normalise(interest @ centroids + _noise(rng, n, centroids.shape[1], 0.6))
    signup = _signups(size, timeline, rng)
    activity = rng.lognormal(0.0, 0.8, n)
    days = (timeline.end - np.maximum(signup, timeline.start)) / DAY
    rate = activity * days * size.n_interactions / np.sum(activity * days)
    evening = rng.random(n)
    peak = np.select(
        [evening < 0.6, evening < 0.85],
        [rng.normal(20, 2, n), rng.normal(12.5, 1.5, n)],
        rng.normal(8, 1, n),
    )
    return Users(
        latent=latent,
        interest=interest.astype(np.float32),
        signup=signup,
        cold=signup >= timeline.cold_cutoff,
        activity=activity.astype(np.float32),
        peak_hour=np.mod(peak, 24).astype(np.float32),
        hour_spread=rng.uniform(1.0, 3.5, n).astype(np.float32),
        n_impressions=rng.poisson(rate).astype(np.int64),
        attributes=_attributes(interest, rng),
    )


def _uploads(size: WorldSize, n: int, timeline: Timeline, rng: np.random.Generator) -> np.ndarray:
    n_back = round(size.back_catalog_share * n)
    n_cold = round(size.cold_video_share * n)
    parts = [
        rng.integers(timeline.catalog_start, timeline.start, n_back),
        rng.integers(timeline.start, timeline.cold_cutoff, n - n_back - n_cold),
        rng.integers(timeline.cold_cutoff, timeline.end, n_cold),
    ]
    return np.concatenate(parts).astype(np.int64)


def _tags(
    topic: np.ndarray, secondary: np.ndarray, n_topics: int, rng: np.random.Generator
) -> np.ndarray:
    """Up to six tag indices per video: topic tags of its topics plus generic ones."""
    n, per_topic = len(topic), 1 + len(TAG_SUFFIXES)
    suffix = rng.integers(1, per_topic, (n, 2))
    generic = n_topics * per_topic + rng.integers(0, len(GENERIC_TAGS), (n, 2))
    u = rng.random((n, 5))
    cols = np.full((n, 6), -1, dtype=np.int64)
    cols[:, 0] = np.where(u[:, 0] < 0.85, topic * per_topic, -1)
    cols[:, 1] = topic * per_topic + suffix[:, 0]
    second = (u[:, 1] < 0.5) & (suffix[:, 1] != suffix[:, 0])
    cols[:, 2] = np.where(second, topic * per_topic + suffix[:, 1], -1)
    cols[:, 3] = np.where((u[:, 2] < 0.4) & (secondary != topic), secondary * per_topic, -1)
    cols[:, 4] = np.where(u[:, 3] < 0.5, generic[:, 0], -1)
    cols[:, 5] = np.where((u[:, 4] < 0.25) & (generic[:, 1] != generic[:, 0]), generic[:, 1], -1)
    return cols.astype(np.int32)


def _titles(
    topic: np.ndarray, secondary: np.ndarray, n_topics: int, rng: np.random.Generator
) -> np.ndarray:
    """Three to seven title-word indices per video: topic words of its topics and generic words."""
    n, width = len(topic), 7
    source = rng.random((n, width))
    slot = rng.integers(0, WORDS_PER_TOPIC, (n, width))
    generic = n_topics * WORDS_PER_TOPIC + rng.integers(0, len(GENERIC_WORDS), (n, width))
    words = np.where(
        source < 0.55,
        topic[:, None] * WORDS_PER_TOPIC + slot,
        np.where(source < 0.7, secondary[:, None] * WORDS_PER_TOPIC + slot, generic),
    )
    length = rng.integers(3, width + 1, n)
    return np.where(np.arange(width) < length[:, None], words, -1).astype(np.int32)


def _originals(
    size: WorldSize,
    n: int,
    creators: dict[str, np.ndarray],
    centroids: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Original uploads: topics around the creator's style, latent, quality, duration."""
    creator = weighted_choice(creators["prolific"], n, rng)
    topic = categorical_rows(creators["style"], creator, rng)
    secondary = categorical_rows(creators["style"], creator, rng)
    mix = rng.uniform(0.55, 1.0, n).astype(np.float32)[:, None]
    mixed = mix * centroids[topic] + (1.0 - mix) * centroids[secondary]
    log_median = rng.uniform(np.log(10.0), np.log(60.0), size.n_topics)
    duration = np.exp(log_median[topic] + 0.75 * rng.standard_normal(n))
    return {
        "latent": normalise(mixed + _noise(rng, n, centroids.shape[1], 0.45)),
        "topic": topic,
        "secondary": secondary,
        "creator": creator,
        "quality": creators["quality"][creator] + rng.normal(0.0, 0.7, n),
        "duration": np.round(np.clip(duration, 5.0, 300.0), 1),
        "tags": _tags(topic, secondary, size.n_topics, rng),
        "title": _titles(topic, secondary, size.n_topics, rng),
    }


def _duplicates(
    base: dict[str, np.ndarray],
    n_dup: int,
    creators: dict[str, np.ndarray],
    end: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Near-duplicate re-uploads of (mostly popular) earlier videos, often by another creator."""
    orig = weighted_choice(np.sqrt(base["popularity"]), n_dup, rng)
    dup = {key: value[orig] for key, value in base.items()}
    dim = dup["latent"].shape[1]
    dup["latent"] = normalise(dup["latent"] + _noise(rng, n_dup, dim, 0.15))
    other = weighted_choice(creators["prolific"], n_dup, rng)
    dup["creator"] = np.where(rng.random(n_dup) < 0.7, other, dup["creator"])
    dup["quality"] = dup["quality"] - 0.2 + rng.normal(0.0, 0.3, n_dup)
    delay = rng.random(n_dup) * (end - dup["upload"])
    dup["upload"] = np.minimum(dup["upload"] + 1 + delay.astype(np.int64), end - 1)
    dup["duplicate_of"] = orig
    return dup


def _popularity(
    quality: np.ndarray, creator: np.ndarray, fame: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Power-law exposure weight, boosted by quality and the creator's fame."""
    power_law = rng.pareto(1.0, len(quality)) + 1.0
    out: np.ndarray = power_law * np.exp(0.5 * quality) * np.sqrt(fame[creator])
    return out


def make_creators(
    size: WorldSize, topic_share: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Creators: a concentrated topic style, a quality level, prolificness and fame."""
    n, t = size.n_creators, size.n_topics
    primary = weighted_choice(topic_share, n, rng)
    spread = rng.standard_gamma(0.5, (n, t)) + 1e-12
    style = 0.3 * spread / spread.sum(axis=1, keepdims=True)
    style[np.arange(n), primary] += 0.7
    return {
        "style": style,
        "quality": rng.normal(0.0, 0.6, n),
        "prolific": rng.lognormal(0.0, 1.2, n),
        "fame": rng.pareto(1.5, n) + 1.0,
    }


def make_videos(
    size: WorldSize,
    timeline: Timeline,
    creators: dict[str, np.ndarray],
    centroids: np.ndarray,
    rng: np.random.Generator,
) -> Videos:
    """The catalogue: originals arriving over time plus near-duplicates, sorted by upload."""
    n_dup = round(size.duplicate_share * size.n_videos)
    n_orig = size.n_videos - n_dup
    base = _originals(size, n_orig, creators, centroids, rng)
    base["upload"] = _uploads(size, n_orig, timeline, rng)
    base["popularity"] = _popularity(base["quality"], base["creator"], creators["fame"], rng)
    base["duplicate_of"] = np.full(n_orig, -1, dtype=np.int64)
    dup = _duplicates(base, n_dup, creators, timeline.end, rng)
    dup["popularity"] = _popularity(dup["quality"], dup["creator"], creators["fame"], rng)
    cols = {key: np.concatenate([base[key], dup[key]]) for key in base}
    projection = rng.standard_normal((centroids.shape[1], size.visual_dim))
    noise = rng.standard_normal((size.n_videos, size.visual_dim))
    visual = cols["latent"] @ projection + 0.8 * noise
    unsafe = np.zeros(size.n_videos, dtype=bool)
    unsafe[rng.choice(size.n_videos, round(size.unsafe_share * size.n_videos), replace=False)] = 1
    unsafe[n_orig:] |= unsafe[cols["duplicate_of"][n_orig:]]
    videos = Videos(visual=visual.astype(np.float32), unsafe=unsafe, **cols)
    return _sort_by_upload(videos)


def _sort_by_upload(videos: Videos) -> Videos:
    order = np.argsort(videos.upload, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    arrays = {f.name: getattr(videos, f.name)[order] for f in fields(videos)}
    dup = arrays["duplicate_of"]
    arrays["duplicate_of"] = np.where(dup >= 0, rank[np.maximum(dup, 0)], -1).astype(np.int32)
    return replace(videos, **arrays)
