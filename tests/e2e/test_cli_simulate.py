"""`reelrec simulate` and `reelrec ab analyze` through the CLI on the tiny world."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
METRICS = (
    "watch_time_per_session",
    "completion_rate",
    "ctr",
    "interaction_rate",
    "fresh_share",
    "exposure_gini",
)


def reelrec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelrec", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_world, tiny_rec) -> Path:  # type: ignore[no-untyped-def]
    """The session's tiny run (configs/tiny.toml), saved with the world (and truth) it came from."""
    from reelrec.data.synthetic import write_world

    base = tmp_path_factory.mktemp("simulate")
    write_world(tiny_world, base / "world")
    tiny_rec.save(base / "run", data_dir=str(base / "world"))
    return base / "run"


def test_simulate_json_then_ab_analyze(run_dir: Path) -> None:
    done = reelrec(
        "simulate", str(run_dir), "--baseline", "popular", "--users", "60", "--days", "2",
        "--seed", "1", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"variants"}
    assert set(result["variants"]) == {"reelrec", "popular"}
    for variant in result["variants"].values():
        for metric in METRICS:
            lo, hi = variant[metric]["ci95"]
            assert lo <= variant[metric]["mean"] <= hi, metric
    sim = run_dir / "simulation"
    html = (sim / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 2  # per variant, and over the 2 days
    assert "watch_time_per_session" in html
    saved = json.loads((sim / "simulation.json").read_text(encoding="utf-8"))
    assert saved["variants"] == result["variants"]
    assert {row["day"] for row in saved["per_day"]} == {0, 1}

    analyzed = reelrec("ab", "analyze", str(sim / "log"), "--json")
    assert analyzed.returncode == 0, analyzed.stderr
    report = json.loads(analyzed.stdout)
    assert report["control"] == "reelrec"
    assert set(report["lift"]) == {"popular"}
    assert "watch_time_per_session" in report["lift"]["popular"]
    assert report["variants"]["reelrec"]["ctr"] == result["variants"]["reelrec"]["ctr"]
    assert set(report["srm"]["counts"]) == {"reelrec", "popular"}
    table = reelrec("ab", "analyze", str(sim / "log"))
    assert table.returncode == 0
    assert "sample ratio" in table.stdout


def test_simulate_without_ground_truth_is_a_clear_error(run_dir: Path, tmp_path: Path) -> None:
    done = reelrec("simulate", str(run_dir), "--truth", str(tmp_path), "--users", "5")
    assert done.returncode == 1
    assert "error:" in done.stderr
    assert "ground truth" in done.stderr


def test_against_and_baseline_are_exclusive(run_dir: Path) -> None:
    done = reelrec("simulate", str(run_dir), "--against", str(run_dir), "--baseline", "random")
    assert done.returncode == 1
    assert "at most one" in done.stderr
