"""Feed simulator: users of the synthetic world scroll feeds served by any policy.

Each simulated day every user opens the app once, near their active hour, and scrolls pages of
``page_size`` videos. Every shown video gets a response drawn from the world's ground truth
(``GroundTruth.sample``: skip, watch ratio, like, share, comment, follow); a video the user was
already shown is scrolled past (a skip). After each video the user leaves with probability
``σ(base + per_video·n + per_skip·s)`` where ``n`` is the number of videos seen in the session
and ``s`` the number skipped so far: sessions end by fatigue, sooner on bad feeds.

Work is vectorised per page across all users still scrolling; one ``policy.recommend`` call
serves every active user's next page. Given the seed and a deterministic policy, the impression
log is identical from run to run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl

from reelrec.data.schema import UTC_DATETIME
from reelrec.data.world_model import GroundTruth
from reelrec.errors import ConfigError
from reelrec.evaluation.ab import ExposureLog, assign

DAY = 86_400
_HOUR_SPREAD = 1.5  # hours: how far a session start strays from the user's peak hour
_SECONDS_PER_SWIPE = 1.0


class Policy(Protocol):
    """What the simulator needs from a feed: the next ``k`` video ids per user."""

    def recommend(self, user_ids: Sequence[str], k: int, at_seconds: np.ndarray) -> list[list[str]]:
        """One list of at most ``k`` video ids per user, served at ``at_seconds`` (epoch s)."""
        ...


@runtime_checkable
class Observer(Protocol):
    """A policy that learns from the events it caused (optional)."""

    def observe(self, events: pl.DataFrame) -> None:
        """Take interaction events (interactions schema plus ``event_id``)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Fatigue:
    """Leave probability after each video: ``σ(base + per_video·n + per_skip·skips)``."""

    base: float = -3.6
    per_video: float = 0.03
    per_skip: float = 0.22


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationSettings:
    """How many days to simulate, page size, session cap, fatigue, seed and start time."""

    days: int = 1
    page_size: int = 10
    max_pages: int = 15
    seed: int = 0
    fatigue: Fatigue = Fatigue()
    start_seconds: int | None = None  # default: the day the world's log ends


DayHook = Callable[[int, pl.DataFrame], None]


@dataclass(slots=True)
class _Sessions:
    """Per-user scrolling state for one day (arrays over the simulated users)."""

    clock: np.ndarray
    seen: np.ndarray
    skips: np.ndarray
    active: np.ndarray
    shown: set[int]


def _segment_exclusive_cumsum(x: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per-segment exclusive prefix sums of ``x`` (segments contiguous, given starts/lengths)."""
    total = np.cumsum(x) - x
    out: np.ndarray = total - np.repeat(total[starts], lengths)
    return out


def _session_starts(
    truth: GroundTruth, users: np.ndarray, day0: int, rng: np.random.Generator
) -> np.ndarray:
    hours = truth.user_peak_hour[users] + _HOUR_SPREAD * rng.standard_normal(len(users))
    out: np.ndarray = day0 + (np.mod(hours, 24.0) * 3600).astype(np.int64)
    return out


def simulate(
    truth: GroundTruth,
    policy: Policy,
    users: np.ndarray,
    settings: SimulationSettings | None = None,
    *,
    on_day_end: DayHook | None = None,
) -> pl.DataFrame:
    """Simulate ``users`` (world user indices) scrolling ``policy``'s feeds.

    Returns:
        One row per impression: ``user_id``, ``video_id``, ``day``, ``session_id``, ``page``,
        ``position`` (in the session), ``timestamp`` (epoch s), ``watch_seconds``,
        ``video_seconds``, ``watch_ratio``, ``skip``, ``liked``, ``shared``, ``commented``,
        ``followed``, ``repeat``, ``fresh``, and world indices ``video``, ``creator``, ``topic``.
    """
    s = settings or SimulationSettings()
    if s.page_size < 1 or s.max_pages < 1 or s.days < 1:
        raise ConfigError(f"simulation needs page_size, max_pages, days ≥ 1; got {s}")
    users = np.asarray(users, dtype=np.int64)
    start = s.start_seconds if s.start_seconds is not None else truth.span_end // DAY * DAY
    days: list[pl.DataFrame] = []
    for day in range(s.days):
        rng = np.random.default_rng(np.random.SeedSequence([s.seed, day]))
        frame = _simulate_day(truth, policy, users, s, day, start + day * DAY, rng)
        days.append(frame)
        if on_day_end is not None:
            on_day_end(day, frame)
    return pl.concat(days) if days else _frame(truth, {}, np.empty(0, np.int64))


def _simulate_day(
    truth: GroundTruth,
    policy: Policy,
    users: np.ndarray,
    s: SimulationSettings,
    day: int,
    day0: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    n = len(users)
    state = _Sessions(
        clock=_session_starts(truth, users, day0, rng).astype(np.float64),
        seen=np.zeros(n, np.int64),
        skips=np.zeros(n, np.int64),
        active=np.ones(n, bool),
        shown=set(),
    )
    parts: list[dict[str, np.ndarray]] = []
    for page in range(s.max_pages):
        rows = np.flatnonzero(state.active)
        if rows.size == 0:
            break
        part = _page(truth, policy, users, rows, state, s, rng)
        if part is None:
            break
        part["page"] = np.full(len(part["row"]), page, np.int32)
        parts.append(part)
        if isinstance(policy, Observer) and len(part["row"]):
            policy.observe(_events(truth, users, part, f"{s.seed}-{day}-{page}"))
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    cols["day"] = np.full(len(cols.get("row", ())), day, np.int32)
    return _frame(truth, cols, users)


def _page(
    truth: GroundTruth,
    policy: Policy,
    users: np.ndarray,
    rows: np.ndarray,
    state: _Sessions,
    s: SimulationSettings,
    rng: np.random.Generator,
) -> dict[str, np.ndarray] | None:
    """Serve one page to users ``rows``, draw responses and departures, update ``state``."""
    ids = truth.user_ids[users[rows]].tolist()
    slates = policy.recommend(ids, s.page_size, state.clock[rows].astype(np.float64))
    lengths = np.array([min(len(x), s.page_size) for x in slates], dtype=np.int64)
    state.active[rows[lengths == 0]] = False
    if lengths.sum() == 0:
        return None
    flat = [v for x, m in zip(slates, lengths.tolist(), strict=True) for v in x[:m]]
    video = truth.video_index(flat)
    row = np.repeat(rows, lengths)
    user = users[row]
    key = user * truth.n_videos + video
    repeat = np.fromiter((int(k) in state.shown for k in key), bool, len(key))
    state.shown.update(key.tolist())
    r = truth.sample(user, video, rng)
    for flag in ("liked", "shared", "commented", "followed"):
        r[flag] = r[flag] & ~repeat
    r["skip"] = r["skip"] | repeat
    r["watch_ratio"] = np.where(repeat, 0.0, r["watch_ratio"])
    r["watch_seconds"] = np.where(repeat, 0.0, r["watch_seconds"])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    pos = np.arange(len(row)) - np.repeat(starts, lengths)
    skipped = r["skip"].astype(np.int64)
    skips = state.skips[row] + _segment_exclusive_cumsum(skipped, starts, lengths) + skipped
    f = s.fatigue
    logit = f.base + f.per_video * (state.seen[row] + pos + 1) + f.per_skip * skips
    leave = rng.random(len(row)) < 0.5 * (1.0 + np.tanh(0.5 * logit))
    # A user who leaves after video j never sees j+1..: keep rows up to the first departure.
    left_before = _segment_exclusive_cumsum(leave.astype(np.int64), starts, lengths) > 0
    keep = ~left_before
    spent = r["watch_seconds"] + _SECONDS_PER_SWIPE
    t = state.clock[row] + _segment_exclusive_cumsum(spent, starts, lengths)
    position = state.seen[row] + pos
    kept_rows = row[keep]
    np.add.at(state.clock, kept_rows, spent[keep])
    np.add.at(state.seen, kept_rows, 1)
    np.add.at(state.skips, kept_rows, skipped[keep])
    state.active[row[leave & keep]] = False
    state.active[rows[lengths < s.page_size]] = False
    out = {k: v[keep] for k, v in r.items()}
    out |= {"row": kept_rows, "video": video[keep], "timestamp": t[keep].astype(np.int64)}
    out["position"] = position[keep].astype(np.int32)
    out["repeat"] = repeat[keep]
    return out


def _frame(truth: GroundTruth, cols: dict[str, np.ndarray], users: np.ndarray) -> pl.DataFrame:
    empty_i = np.empty(0, np.int64)
    row = cols.get("row", empty_i)
    video = cols.get("video", empty_i).astype(np.int64)
    user = users[row] if len(users) else empty_i
    t = cols.get("timestamp", empty_i)
    upload = truth.video_upload[video]
    day = cols.get("day", np.empty(0, np.int32))
    user_ids = pl.Series("user_id", truth.user_ids[user].astype(str), pl.Utf8)
    return pl.DataFrame(
        {
            "user_id": user_ids,
            "video_id": pl.Series(truth.video_ids[video].astype(str), dtype=pl.Utf8),
            "video": video,
            "day": day,
            "session_id": user_ids + "/" + pl.Series(day).cast(pl.Utf8),
            "page": cols.get("page", np.empty(0, np.int32)),
            "position": cols.get("position", np.empty(0, np.int32)),
            "timestamp": t,
            "watch_seconds": cols.get("watch_seconds", np.empty(0)),
            "video_seconds": truth.video_duration[video].astype(np.float64),
            "watch_ratio": cols.get("watch_ratio", np.empty(0)),
            **{
                k: cols.get(k, np.empty(0, bool))
                for k in ("skip", "liked", "shared", "commented", "followed", "repeat")
            },
            "fresh": (upload <= t) & (t - upload <= truth.fresh_window),
            "creator": truth.video_creator[video].astype(np.int64),
            "topic": truth.topic_of(video).astype(np.int64),
        }
    )


def _events(
    truth: GroundTruth, users: np.ndarray, part: dict[str, np.ndarray], tag: str
) -> pl.DataFrame:
    """A page's impressions as interaction events (interactions schema plus ``event_id``)."""
    n = len(part["row"])
    video = part["video"]
    return pl.DataFrame(
        {
            "event_id": [f"sim-{tag}-{i}" for i in range(n)],
            "user_id": truth.user_ids[users[part["row"]]].astype(str),
            "video_id": truth.video_ids[video].astype(str),
            "timestamp": pl.Series(part["timestamp"] * 1_000_000).cast(UTC_DATETIME),
            "watch_seconds": part["watch_seconds"],
            "video_seconds": truth.video_duration[video].astype(np.float64),
            **{k: part[k] for k in ("liked", "shared", "commented", "followed")},
        }
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ABRun:
    """A simulated A/B: the impressions of every variant (``variant`` column) and the users."""

    impressions: pl.DataFrame
    users: dict[str, list[str]]


def simulate_ab(
    truth: GroundTruth,
    policies: dict[str, Policy],
    *,
    users_per_variant: int,
    settings: SimulationSettings | None = None,
    experiment: str = "simulate",
    log: ExposureLog | None = None,
) -> ABRun:
    """Draw users, assign them to ``policies`` by hashing (equal shares), simulate each arm.

    Every impression is appended to ``log`` (as an exposure with its outcome) when given.
    """
    s = settings or SimulationSettings()
    rng = np.random.default_rng(np.random.SeedSequence([s.seed, 7]))
    n = min(truth.n_users, users_per_variant * len(policies))
    drawn = np.sort(rng.choice(truth.n_users, size=n, replace=False))
    ids = truth.user_ids[drawn].astype(str).tolist()
    arm = np.array(assign(ids, experiment, dict.fromkeys(policies, 1.0)))
    frames: list[pl.DataFrame] = []
    members: dict[str, list[str]] = {}
    for name, policy in policies.items():
        mine = drawn[arm == name]
        members[name] = truth.user_ids[mine].astype(str).tolist()
        frame = simulate(truth, policy, mine, s).with_columns(
            pl.lit(name).alias("variant"), pl.lit(experiment).alias("experiment")
        )
        if log is not None:
            log.append(frame)
        frames.append(frame)
    if log is not None:
        log.flush()
    return ABRun(impressions=pl.concat(frames), users=members)
