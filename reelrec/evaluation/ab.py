"""A/B testing: deterministic assignment, an exposure log on Parquet, and the analysis.

* ``assign(user_ids, experiment, shares)``: a user's variant is a pure function of
  ``blake2b(experiment + "/" + user_id)`` and the shares, so every process agrees.
* ``ExposureLog``: appends exposure and outcome rows to ``part-*.parquet`` files in batches;
  each file is written atomically, so a reader never sees half a file. ``read_log`` joins
  outcomes onto their exposures.
* ``analyze(frame)``: per-metric relative lift of each variant over the control, with a 95%
  delta-method interval over users, and a chi-square sample-ratio-mismatch (SRM) check.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from reelrec.artifacts import atomic_path, atomic_write_json
from reelrec.errors import ConfigError, DataError
from reelrec.evaluation.online_metrics import (
    SESSION_METRICS,
    Z95,
    Estimate,
    session_metrics,
    summarize,
    user_means,
)

SRM_P_VALUE = 0.001
EXPERIMENT_FILE = "experiment.json"
_SCALE = float(1 << 64)


def _normalised(shares: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    names = list(shares)
    weights = np.array([float(shares[n]) for n in names])
    if not names or np.any(weights <= 0) or not np.isfinite(weights).all():
        raise ConfigError(f"traffic shares must be positive numbers; got {dict(shares)}")
    return names, np.cumsum(weights) / weights.sum()


def bucket(user_id: str, experiment: str) -> float:
    """The user's stable position in [0, 1) for ``experiment`` (blake2b, not ``hash()``)."""
    digest = hashlib.blake2b(f"{experiment}/{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def assign(user_ids: Sequence[str], experiment: str, shares: Mapping[str, float]) -> list[str]:
    """The variant of each user: stable across calls and processes, balanced by ``shares``."""
    names, edges = _normalised(shares)
    points = np.fromiter((bucket(u, experiment) for u in user_ids), np.float64, len(user_ids))
    which = np.minimum(np.searchsorted(edges, points, side="right"), len(names) - 1)
    return [names[i] for i in which.tolist()]


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleRatio:
    """Users per variant against the expected shares, with the chi-square test."""

    counts: dict[str, int]
    expected: dict[str, float]
    chi2: float
    p_value: float

    @property
    def mismatch(self) -> bool:
        """True when the split is too unlikely under the shares (p < 0.001)."""
        return self.p_value < SRM_P_VALUE

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "counts": self.counts,
            "expected_shares": self.expected,
            "chi2": self.chi2,
            "p_value": self.p_value,
            "mismatch": self.mismatch,
        }


def sample_ratio(counts: Mapping[str, int], shares: Mapping[str, float] | None) -> SampleRatio:
    """Chi-square goodness of fit of ``counts`` to ``shares`` (equal shares when None)."""
    names = list(counts)
    share_map = dict(shares) if shares else dict.fromkeys(names, 1.0)
    w = np.array([float(share_map.get(n, 0.0)) for n in names])
    if np.any(w <= 0):
        raise DataError(f"no traffic share for variants {names} in {share_map}")
    observed = np.array([counts[n] for n in names], dtype=np.float64)
    expected = observed.sum() * w / w.sum()
    chi2, p = stats.chisquare(observed, expected) if len(names) > 1 else (0.0, 1.0)
    return SampleRatio(
        counts={n: int(c) for n, c in zip(names, observed, strict=True)},
        expected={n: float(x) for n, x in zip(names, w / w.sum(), strict=True)},
        chi2=float(chi2),
        p_value=float(p),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Lift:
    """Relative lift ``mean_t / mean_c − 1`` with its 95% delta-method interval."""

    lift: float
    lo: float
    hi: float

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0."""
        return self.lo > 0.0 or self.hi < 0.0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"lift": self.lift, "ci95": [self.lo, self.hi], "significant": self.significant}


def relative_lift(treatment: np.ndarray, control: np.ndarray) -> Lift:
    """Lift of the mean of per-user values ``treatment`` over ``control`` (independent users).

    Delta method: Var(T̄/C̄) ≈ Var(T̄)/C̄² + T̄²·Var(C̄)/C̄⁴.
    """
    t = np.asarray(treatment, np.float64)
    c = np.asarray(control, np.float64)
    t, c = t[np.isfinite(t)], c[np.isfinite(c)]
    if t.size < 2 or c.size < 2 or c.mean() == 0:
        return Lift(lift=float("nan"), lo=float("nan"), hi=float("nan"))
    mt, mc = t.mean(), c.mean()
    var_t, var_c = t.var(ddof=1) / t.size, c.var(ddof=1) / c.size
    se = float(np.sqrt(var_t / mc**2 + mt**2 * var_c / mc**4))
    lift = float(mt / mc - 1.0)
    return Lift(lift=lift, lo=lift - Z95 * se, hi=lift + Z95 * se)


@dataclass(frozen=True, slots=True, kw_only=True)
class ABReport:
    """Per-variant estimates, lifts over the control, and the SRM check."""

    control: str
    variants: dict[str, dict[str, Estimate]]
    lifts: dict[str, dict[str, Lift]]
    srm: SampleRatio
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"variants": {name: {metric: {"mean", "ci95", "n"}}}, "lift": …, "srm": …}``."""
        return {
            "control": self.control,
            "variants": {
                v: {m: e.to_json() for m, e in metrics.items()}
                for v, metrics in self.variants.items()
            },
            "lift": {
                v: {m: x.to_json() for m, x in metrics.items()} for v, metrics in self.lifts.items()
            },
            "srm": self.srm.to_json(),
            **self.extra,
        }


def analyze(
    frame: pl.DataFrame,
    *,
    control: str | None = None,
    shares: Mapping[str, float] | None = None,
    n_videos: int | None = None,
    n_creators: int | None = None,
    seed: int = 0,
) -> ABReport:
    """Analyse impressions with a ``variant`` column (plus what ``session_metrics`` reads).

    Users are the unit: per-session metrics are averaged per user, and lifts and the SRM check
    are computed over users. ``control`` defaults to the first variant in the frame.
    """
    if "variant" not in frame.columns or frame.height == 0:
        raise DataError("A/B analysis needs a non-empty impression frame with a 'variant' column")
    names = frame.get_column("variant").unique(maintain_order=True).to_list()
    control = control or names[0]
    if control not in names:
        raise DataError(f"control variant {control!r} not in the log; variants: {names}")
    means = user_means(session_metrics(frame))
    per_variant = {v: means.filter(pl.col("variant") == v) for v in names}
    counts = {v: per_variant[v].height for v in names}
    estimates = {
        v: summarize(
            frame.filter(pl.col("variant") == v),
            n_videos=n_videos,
            n_creators=n_creators,
            seed=seed,
        )
        for v in names
    }
    metrics = [m for m in SESSION_METRICS if m in means.columns]
    base = per_variant[control]
    lifts = {
        v: {
            m: relative_lift(per_variant[v].get_column(m).to_numpy(), base.get_column(m).to_numpy())
            for m in metrics
        }
        for v in names
        if v != control
    }
    return ABReport(
        control=control, variants=estimates, lifts=lifts, srm=sample_ratio(counts, shares)
    )


class ExposureLog:
    """Append exposure/outcome rows to Parquet under ``folder`` in batches of ``batch_rows``.

    Thread-safe; every flush writes one new ``part-<seq>-<uid>.parquet`` atomically. Use as a
    context manager (or call ``close``) so the last batch is written.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        batch_rows: int = 50_000,
        experiment: Mapping[str, Any] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.batch_rows = batch_rows
        self._pending: list[pl.DataFrame] = []
        self._rows = 0
        self._seq = 0
        self._uid = uuid.uuid4().hex[:8]
        self._lock = threading.Lock()
        if experiment is not None:
            atomic_write_json(self.folder / EXPERIMENT_FILE, dict(experiment))

    def append(self, rows: pl.DataFrame, *, kind: str = "exposure") -> None:
        """Buffer ``rows`` (``kind`` = "exposure" or "outcome"); flush when the batch is full."""
        if rows.height == 0:
            return
        rows = rows.with_columns(pl.lit(kind).alias("kind"))
        with self._lock:
            self._pending.append(rows)
            self._rows += rows.height
            if self._rows >= self.batch_rows:
                self._flush_locked()

    def flush(self) -> None:
        """Write buffered rows now."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        frame = pl.concat(self._pending, how="diagonal_relaxed")
        target = self.folder / f"part-{self._seq:06d}-{self._uid}.parquet"
        with atomic_path(target) as tmp:
            frame.write_parquet(tmp)
        self._seq += 1
        self._pending, self._rows = [], 0

    def close(self) -> None:
        """Flush the last batch."""
        self.flush()

    def __enter__(self) -> ExposureLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_log(folder: str | Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The impressions of a log folder (outcomes joined onto exposures) and its experiment info.

    Exposure rows that carry no outcome take the latest ``outcome`` row of the same
    (variant, user, video); exposures never answered count as skipped.
    """
    folder = Path(folder)
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        raise DataError(f"{folder}: no part-*.parquet exposure files (is this an A/B log folder?)")
    frame = pl.concat([pl.read_parquet(p) for p in parts], how="diagonal_relaxed")
    info_path = folder / EXPERIMENT_FILE
    info: dict[str, Any] = (
        json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    )
    if "kind" not in frame.columns:
        return frame, info
    exposures = frame.filter(pl.col("kind") == "exposure").drop("kind")
    outcomes = frame.filter(pl.col("kind") == "outcome").drop("kind")
    if outcomes.height:
        keys = ["variant", "user_id", "video_id"]
        outcome_cols = [c for c in outcomes.columns if c not in exposures.columns or c in keys]
        fill = [c for c in outcomes.columns if c in exposures.columns and c not in keys]
        latest = outcomes.unique(keys, keep="last", maintain_order=True)
        joined = exposures.join(
            latest.select(keys + fill + [c for c in outcome_cols if c not in keys]),
            on=keys,
            how="left",
            suffix="_outcome",
        )
        exposures = joined.with_columns(
            [pl.coalesce(pl.col(c), pl.col(f"{c}_outcome")).alias(c) for c in fill]
        ).drop([f"{c}_outcome" for c in fill])
    if "session_id" not in exposures.columns:
        exposures = exposures.with_columns(pl.col("user_id").alias("session_id"))
    return exposures, info


def analyze_log(folder: str | Path) -> ABReport:
    """``analyze`` on a log folder, with the shares and catalogue sizes it recorded."""
    frame, info = read_log(folder)
    return analyze(
        frame,
        control=info.get("control"),
        shares=info.get("shares"),
        n_videos=info.get("n_videos"),
        n_creators=info.get("n_creators"),
        seed=int(info.get("seed", 0)),
    )
