"""A/B experiments in the service: hashed assignment, per-variant stages, exposure logging.

Variants that differ by pipeline ``stages`` (e.g. rules off, retrieval only) are served from the
one loaded run. Variants that need another model or other settings (``run_dir``,
``overrides``) run as separate services behind a router; asking this service to serve them is a
``ConfigError`` at start-up rather than a silently identical arm. Exposures (every served item)
and outcomes (every applied event) go to an ``ExposureLog`` that ``reelrec ab analyze`` reads.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from reelrec.config import ExperimentConfig
from reelrec.errors import ConfigError
from reelrec.evaluation.ab import ExposureLog, assign

OUTCOME_FIELDS = ("watch_seconds", "video_seconds", "liked", "shared", "commented", "followed")


@dataclass(slots=True, kw_only=True)
class ServedExperiment:
    """One experiment as the service runs it."""

    name: str
    shares: dict[str, float]
    stages: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    log: ExposureLog | None = None

    @classmethod
    def from_config(
        cls, cfg: ExperimentConfig, run_dir: Path | None, log_dir: Path | None
    ) -> ServedExperiment:
        """Check that this service can serve every variant, and open the exposure log.

        Raises:
            ConfigError: a variant needs another run directory or config overrides.
        """
        for v in cfg.variants:
            other_run = v.run_dir is not None and (
                run_dir is None or Path(v.run_dir).resolve() != Path(run_dir).resolve()
            )
            if other_run or v.overrides:
                what = f"run_dir {v.run_dir!r}" if other_run else f"overrides {v.overrides}"
                raise ConfigError(
                    f"experiment {cfg.name!r} variant {v.name!r} needs {what}; one service "
                    "serves one run and varies only `stages` — run one service per variant "
                    "behind a router that uses reelrec.evaluation.ab.assign"
                )
        shares = {v.name: v.share for v in cfg.variants}
        info = {"experiment": cfg.name, "control": cfg.variants[0].name, "shares": shares}
        log = ExposureLog(log_dir, batch_rows=5_000, experiment=info) if log_dir else None
        stages: dict[str, tuple[str, ...] | None] = {
            v.name: tuple(v.stages) if v.stages is not None else None for v in cfg.variants
        }
        return cls(name=cfg.name, shares=shares, stages=stages, log=log)

    def variant(self, user_id: str) -> str:
        """The user's arm (stable across processes and replicas)."""
        return assign([user_id], self.name, self.shares)[0]

    def log_exposures(self, user_id: str, variant: str, video_ids: Sequence[str]) -> None:
        """Record the items served to one user, with their positions."""
        if self.log is None or not video_ids:
            return
        n = len(video_ids)
        self.log.append(
            pl.DataFrame(
                {
                    "variant": [variant] * n,
                    "user_id": [user_id] * n,
                    "video_id": list(video_ids),
                    "position": list(range(n)),
                    "served_at": [time.time()] * n,
                }
            ),
            kind="exposure",
        )

    def log_outcomes(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Record applied events as outcomes of the exposures they answer."""
        if self.log is None or not events:
            return
        rows: dict[str, list[Any]] = {"variant": [], "user_id": [], "video_id": []}
        rows |= {name: [] for name in OUTCOME_FIELDS}
        for event in events:
            user = str(event["user_id"])
            rows["variant"].append(self.variant(user))
            rows["user_id"].append(user)
            rows["video_id"].append(str(event["video_id"]))
            for name in OUTCOME_FIELDS:
                rows[name].append(event.get(name))
        frame = pl.DataFrame(rows, strict=False)
        self.log.append(
            frame.drop([c for c in OUTCOME_FIELDS if frame[c].null_count() == len(frame)]),
            kind="outcome",
        )

    def close(self) -> None:
        """Flush the exposure log."""
        if self.log is not None:
            self.log.close()


def served_experiment(
    experiment: ServedExperiment | tuple[str, Mapping[str, float]] | None,
) -> ServedExperiment | None:
    """Accept the short ``(name, {variant: share})`` form as well (no logging, all stages)."""
    if experiment is None or isinstance(experiment, ServedExperiment):
        return experiment
    name, shares = experiment
    return ServedExperiment(name=name, shares=dict(shares))
