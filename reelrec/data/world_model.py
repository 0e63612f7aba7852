"""Ground truth of the synthetic world: latent vectors and the response model that scores any feed.

The same ``GroundTruth.sample`` that generated the logs is what a simulator calls to score a new
feed, and ``GroundTruth.expected`` gives the exact expectations of those draws. For a (user, video)
pair with affinity ``a = user_latent · video_latent`` and video quality ``q``::

    P(play)          = σ(b + w_a·a + w_q·q + w_unsafe·unsafe)          (skip = not played)
    median ratio  m  = ratio_max · σ(b + w_a·a + w_q·q − w_d·ln(duration / 30 s))
    ratio | play     = min(ratio_cap, m · exp(σ_r·Z − σ_r²/2)),  Z ~ N(0, 1)
    P(like | play)   = σ(b + w_a·a + w_q·q)   (likewise share, comment, follow)

Ratios above 1 are rewatches; longer videos are watched to a lower ratio.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.special import ndtr

from reelrec.errors import DataError, UnknownIdError

PARAMS_FILE = "params.json"
ENGAGEMENTS = ("like", "share", "comment", "follow")
_REFERENCE_SECONDS = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    """One logit: ``bias + affinity·a + quality·q``."""

    bias: float
    affinity: float
    quality: float

    def logit(self, a: np.ndarray, q: np.ndarray) -> np.ndarray:
        """The logit for affinities ``a`` and qualities ``q``."""
        return self.bias + self.affinity * a + self.quality * q


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseParams:
    """Coefficients of the response model (see the module docstring)."""

    play: Head = Head(bias=0.2, affinity=3.0, quality=0.4)
    play_unsafe: float = 0.8
    ratio: Head = Head(bias=-0.9, affinity=3.5, quality=0.35)
    ratio_duration: float = 0.45
    ratio_max: float = 1.6
    ratio_sigma: float = 0.5
    ratio_cap: float = 3.0
    like: Head = Head(bias=-4.6, affinity=3.5, quality=0.5)
    share: Head = Head(bias=-6.6, affinity=3.5, quality=0.6)
    comment: Head = Head(bias=-6.2, affinity=3.0, quality=0.3)
    follow: Head = Head(bias=-7.0, affinity=3.5, quality=0.4)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ResponseParams:
        """Inverse of ``dataclasses.asdict``."""
        values: dict[str, Any] = {
            k: Head(**v) if isinstance(v, dict) else float(v) for k, v in raw.items()
        }
        return cls(**values)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _capped_lognormal_mean(m: np.ndarray, sigma: float, cap: float) -> np.ndarray:
    """E[min(cap, m·exp(σZ − σ²/2))] for Z ~ N(0, 1), in closed form."""
    mu = np.log(m) - 0.5 * sigma * sigma
    z_cap = (np.log(cap) - mu) / sigma
    out: np.ndarray = m * ndtr(z_cap - sigma) + cap * (1.0 - ndtr(z_cap))
    return out


@dataclass(frozen=True, kw_only=True, eq=False)
class GroundTruth:
    """Everything needed to score any (user, video) pair as the synthetic world would.

    Arrays are indexed by user/video index: row ``i`` of every ``user_*`` array is user
    ``user_ids[i]`` (``user_index`` maps ids to rows). Times are epoch seconds (UTC).
    ``video_topic`` is the dominant topic (names in ``topics``), ``video_duplicate_of`` the
    original of a near-duplicate re-upload (−1 otherwise), ``user_cold``/``video_cold`` mark
    arrivals at or after ``cold_cutoff``, ``video_popularity`` is the logging policy's exposure
    weight, and a video is "fresh" at time t if uploaded within ``fresh_window`` seconds before.
    """

    seed: int
    size: str
    topics: tuple[str, ...]
    span_start: int
    span_end: int
    cold_cutoff: int
    fresh_window: int
    response: ResponseParams = field(default_factory=ResponseParams)
    user_ids: np.ndarray
    user_latent: np.ndarray
    user_interest: np.ndarray
    user_signup: np.ndarray
    user_cold: np.ndarray
    user_activity: np.ndarray
    user_peak_hour: np.ndarray
    video_ids: np.ndarray
    video_latent: np.ndarray
    video_topic: np.ndarray
    video_creator: np.ndarray
    video_quality: np.ndarray
    video_duration: np.ndarray
    video_upload: np.ndarray
    video_popularity: np.ndarray
    video_unsafe: np.ndarray
    video_cold: np.ndarray
    video_duplicate_of: np.ndarray

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.user_ids)

    @property
    def n_videos(self) -> int:
        """Number of videos."""
        return len(self.video_ids)

    def topic_of(self, video_idx: np.ndarray) -> np.ndarray:
        """Dominant topic index of each video (names in ``topics``)."""
        topics: np.ndarray = self.video_topic[np.asarray(video_idx)]
        return topics

    def user_index(self, ids: pl.Series | list[str]) -> np.ndarray:
        """Indices of user ids; raises ``UnknownIdError`` for ids not in the world."""
        return _index_of(ids, self.user_ids, "user")

    def video_index(self, ids: pl.Series | list[str]) -> np.ndarray:
        """Indices of video ids; raises ``UnknownIdError`` for ids not in the world."""
        return _index_of(ids, self.video_ids, "video")

    def affinity(self, user_idx: np.ndarray, video_idx: np.ndarray) -> np.ndarray:
        """Latent match ``user_latent · video_latent`` per pair (float64)."""
        u, v = _pairs(user_idx, video_idx)
        dots: np.ndarray = np.einsum("ij,ij->i", self.user_latent[u], self.video_latent[v])
        return dots.astype(np.float64)

    def _components(self, user_idx: np.ndarray, video_idx: np.ndarray) -> dict[str, np.ndarray]:
        u, v = _pairs(user_idx, video_idx)
        p = self.response
        a = self.affinity(u, v)
        q = self.video_quality[v].astype(np.float64)
        duration = self.video_duration[v].astype(np.float64)
        play_logit = p.play.logit(a, q) + p.play_unsafe * self.video_unsafe[v]
        ratio_logit = p.ratio.logit(a, q) - p.ratio_duration * np.log(duration / _REFERENCE_SECONDS)
        out = {
            "affinity": a,
            "duration": duration,
            "p_play": _sigmoid(play_logit),
            "ratio_median": p.ratio_max * _sigmoid(ratio_logit),
        }
        for name in ENGAGEMENTS:
            head: Head = getattr(p, name)
            out[f"p_{name}_if_played"] = _sigmoid(head.logit(a, q))
        return out

    def expected(self, user_idx: np.ndarray, video_idx: np.ndarray) -> dict[str, np.ndarray]:
        """Exact expectations per impression of ``(user_idx[i], video_idx[i])``.

        Returns:
            ``affinity``, ``p_play``, ``watch_ratio_if_played``, ``watch_ratio`` (skips count
            as 0), ``watch_seconds``, and ``p_like``, ``p_share``, ``p_comment``, ``p_follow``
            (unconditional: a skipped impression never engages).
        """
        c = self._components(user_idx, video_idx)
        p = self.response
        if_played = _capped_lognormal_mean(c["ratio_median"], p.ratio_sigma, p.ratio_cap)
        out = {
            "affinity": c["affinity"],
            "p_play": c["p_play"],
            "watch_ratio_if_played": if_played,
            "watch_ratio": c["p_play"] * if_played,
            "watch_seconds": c["p_play"] * if_played * c["duration"],
        }
        for name in ENGAGEMENTS:
            out[f"p_{name}"] = c["p_play"] * c[f"p_{name}_if_played"]
        return out

    def sample(
        self, user_idx: np.ndarray, video_idx: np.ndarray, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Draw one response per impression: the code that generated the synthetic logs.

        Returns:
            ``skip`` (bool), ``watch_ratio`` and ``watch_seconds`` (0 when skipped), and
            ``liked``, ``shared``, ``commented``, ``followed`` (bool, False when skipped).
        """
        c = self._components(user_idx, video_idx)
        p = self.response
        n = len(c["affinity"])
        played = rng.random(n) < c["p_play"]
        noise = np.exp(p.ratio_sigma * rng.standard_normal(n) - 0.5 * p.ratio_sigma**2)
        ratio = np.where(played, np.minimum(p.ratio_cap, c["ratio_median"] * noise), 0.0)
        out = {"skip": ~played, "watch_ratio": ratio, "watch_seconds": ratio * c["duration"]}
        draws = rng.random((len(ENGAGEMENTS), n))
        for k, (name, flag) in enumerate(
            zip(ENGAGEMENTS, ("liked", "shared", "commented", "followed"), strict=True)
        ):
            out[flag] = played & (draws[k] < c[f"p_{name}_if_played"])
        return out

    def save(self, folder: str | Path) -> Path:
        """Write arrays as ``.npy`` and scalars as ``params.json`` into ``folder`` (not atomic:
        write into a staged directory, as ``write_world`` does)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        params: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                np.save(folder / f"{f.name}.npy", value, allow_pickle=False)
            elif isinstance(value, ResponseParams):
                params[f.name] = asdict(value)
            else:
                params[f.name] = list(value) if isinstance(value, tuple) else value
        text = json.dumps(params, indent=2, sort_keys=True) + "\n"
        (folder / PARAMS_FILE).write_text(text, encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> GroundTruth:
        """Read what ``save`` wrote; raises ``DataError`` if files are missing."""
        folder = Path(folder)
        if not (folder / PARAMS_FILE).is_file():
            raise DataError(
                f"{folder}: no {PARAMS_FILE}; not a synthetic world's ground truth "
                "(write one with reelrec.data.synthetic.write_world)"
            )
        params = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "response":
                values[f.name] = ResponseParams.from_dict(params[f.name])
            elif f.name in params:
                raw = params[f.name]
                values[f.name] = tuple(raw) if isinstance(raw, list) else raw
            else:
                path = folder / f"{f.name}.npy"
                if not path.is_file():
                    raise DataError(f"{path}: missing ground-truth array; rewrite the world")
                values[f.name] = np.load(path, allow_pickle=False)
        return cls(**values)


def _pairs(user_idx: np.ndarray, video_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u = np.asarray(user_idx, dtype=np.int64).ravel()
    v = np.asarray(video_idx, dtype=np.int64).ravel()
    if u.shape != v.shape:
        raise ValueError(f"user_idx and video_idx differ in length: {u.shape[0]} vs {v.shape[0]}")
    return u, v


def _index_of(ids: pl.Series | list[str], vocab: np.ndarray, what: str) -> np.ndarray:
    series = pl.Series("id", ids, dtype=pl.Utf8)
    positions = series.replace_strict(
        pl.Series(vocab), pl.Series(np.arange(len(vocab), dtype=np.int64)), default=None
    )
    missing = positions.is_null().arg_true()
    if missing.len():
        first = series[int(missing[0])]
        raise UnknownIdError(
            f"{what} id {first!r} is not in the synthetic world ({missing.len()} unknown ids)"
        )
    return positions.to_numpy()
