"""A/B testing: stable, balanced assignment; lift recovery; A/A calibration; SRM; the log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from reelrec.config import load_experiment
from reelrec.errors import ConfigError, DataError
from reelrec.evaluation.ab import (
    ExposureLog,
    analyze,
    analyze_log,
    assign,
    read_log,
    relative_lift,
    sample_ratio,
)

IDS = [f"u{i:06d}" for i in range(100_000)]


def test_assignment_is_deterministic_across_calls_and_processes() -> None:
    shares = {"control": 0.5, "treatment": 0.5}
    first = assign(IDS[:500], "exp-1", shares)
    assert first == assign(IDS[:500], "exp-1", shares)
    code = (
        "from reelrec.evaluation.ab import assign;"
        f"print(','.join(assign({IDS[:500]!r}, 'exp-1', {shares!r})))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # Python's hash() would change with this
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip().split(",") == first


def test_assignment_is_balanced_on_100k_ids() -> None:
    shares = {"a": 0.2, "b": 0.3, "c": 0.5}
    arms = np.array(assign(IDS, "balance", shares))
    for name, share in shares.items():
        assert abs(np.mean(arms == name) - share) < 0.01
    counts = {n: int(np.sum(arms == n)) for n in shares}
    assert not sample_ratio(counts, shares).mismatch


def test_assignment_depends_on_the_experiment_name() -> None:
    shares = {"x": 0.5, "y": 0.5}
    a = np.array(assign(IDS[:20_000], "first", shares))
    b = np.array(assign(IDS[:20_000], "second", shares))
    assert abs(np.mean(a == b) - 0.5) < 0.02  # independent re-randomisation


def test_bad_shares_are_rejected() -> None:
    with pytest.raises(ConfigError):
        assign(IDS[:3], "e", {"a": 0.0, "b": 1.0})


def _outcomes(n_users: int, seed: int, lift: float, arms: np.ndarray) -> pl.DataFrame:
    """One session per user; treatment watch time scaled by ``1 + lift``."""
    rng = np.random.default_rng(seed)
    watch = rng.gamma(2.0, 60.0, n_users) * np.where(arms == "treatment", 1.0 + lift, 1.0)
    return pl.DataFrame(
        {
            "variant": arms,
            "user_id": IDS[:n_users],
            "session_id": IDS[:n_users],
            "watch_seconds": watch,
            "video_seconds": np.full(n_users, 200.0),
            "liked": rng.random(n_users) < 0.05,
        }
    )


def test_planted_lift_is_recovered() -> None:
    n = 20_000
    arms = np.array(assign(IDS[:n], "planted", {"control": 0.5, "treatment": 0.5}))
    report = analyze(_outcomes(n, 0, 0.05, arms), control="control")
    watch = report.lifts["treatment"]["watch_time_per_session"]
    assert watch.significant
    assert watch.lo < 0.05 < watch.hi
    assert abs(watch.lift - 0.05) < 0.02
    assert not report.lifts["treatment"]["interaction_rate"].significant  # nothing planted
    assert not report.srm.mismatch


def test_aa_tests_are_calibrated_at_95_percent() -> None:
    """Identical arms: a calibrated 95% interval excludes 0 in 5% of runs (binomial ± 3 SE).

    The measured rate over these 1000 seeded runs is printed by benchmarks/bench_simulation.py.
    """
    n, runs = 2_000, 1_000
    rng = np.random.default_rng(7)
    significant = 0
    for r in range(runs):
        values = rng.gamma(2.0, 60.0, n)
        arms = np.array(assign(IDS[:n], f"aa-{r}", {"a": 0.5, "b": 0.5}))
        significant += relative_lift(values[arms == "b"], values[arms == "a"]).significant
    rate, se = significant / runs, float(np.sqrt(0.05 * 0.95 / runs))
    assert abs(rate - 0.05) <= 3 * se, f"{significant}/{runs} A/A runs significant"


def test_srm_detects_a_45_55_split_on_20k_users() -> None:
    srm = sample_ratio({"a": 9_000, "b": 11_000}, {"a": 0.5, "b": 0.5})
    assert srm.mismatch
    assert srm.p_value < 1e-10
    assert not sample_ratio({"a": 10_050, "b": 9_950}, {"a": 0.5, "b": 0.5}).mismatch


def test_analyze_needs_variants() -> None:
    with pytest.raises(DataError):
        analyze(pl.DataFrame({"user_id": ["u"], "watch_seconds": [1.0]}))


def test_exposure_log_round_trip_joins_outcomes(tmp_path: Path) -> None:
    exposures = pl.DataFrame(
        {
            "variant": ["a", "a", "b", "b"],
            "user_id": ["u1", "u1", "u2", "u2"],
            "session_id": ["s1", "s1", "s2", "s2"],
            "video_id": ["v1", "v2", "v1", "v3"],
            "video_seconds": [10.0, 20.0, 10.0, 30.0],
        }
    )
    outcomes = pl.DataFrame(
        {
            "variant": ["a", "b"],
            "user_id": ["u1", "u2"],
            "video_id": ["v2", "v3"],
            "watch_seconds": [20.0, 3.0],
            "liked": [True, False],
        }
    )
    info = {"shares": {"a": 0.5, "b": 0.5}, "control": "a"}
    with ExposureLog(tmp_path / "log", batch_rows=3, experiment=info) as log:
        log.append(exposures)  # 4 rows ≥ 3: flushed as its own part
        log.append(outcomes, kind="outcome")
    parts = sorted(p.name for p in (tmp_path / "log").iterdir())
    assert parts[0] == "experiment.json"
    assert len(parts) == 3
    frame, read_info = read_log(tmp_path / "log")
    assert read_info["control"] == "a"
    assert frame.height == 4
    got = frame.sort("user_id", "video_id").get_column("watch_seconds").to_list()
    assert got == [None, 20.0, None, 3.0]
    report = analyze_log(tmp_path / "log")
    a = report.variants["a"]
    assert a["ctr"].mean == pytest.approx(0.5)
    assert a["completion_rate"].mean == pytest.approx(0.5)
    assert a["interaction_rate"].mean == pytest.approx(0.5)
    assert report.variants["b"]["watch_time_per_session"].mean == pytest.approx(3.0)


def test_experiment_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(
        'name = "rules-v2"\n'
        '[[variants]]\nname = "control"\nshare = 0.5\nrun_dir = "runs/a"\n'
        '[[variants]]\nname = "no-rules"\nshare = 0.5\nrun_dir = "runs/a"\n'
        'stages = ["retrieve", "rank"]\noverrides = ["ranking.weight_like=2.0"]\n',
        encoding="utf-8",
    )
    exp = load_experiment(path)
    assert [v.name for v in exp.variants] == ["control", "no-rules"]
    assert exp.variants[1].stages == ["retrieve", "rank"]
    path.write_text(
        'name = "x"\n[[variants]]\nname = "a"\nshare = 0.6\n'
        '[[variants]]\nname = "b"\nshare = 0.6\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="sum to 1"):
        load_experiment(path)
