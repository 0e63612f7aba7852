"""The data verbs end to end: synth → stats, prepare of public data, and bad input handling."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.e2e


def reelrec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelrec", *args], capture_output=True, text=True, timeout=600
    )


def test_synth_then_stats_json(tmp_path: Path) -> None:
    done = reelrec("synth", "--size", "tiny", "--seed", "3", "-o", str(tmp_path / "w"))
    assert done.returncode == 0, done.stderr
    stats = json.loads(reelrec("stats", str(tmp_path / "w"), "--json").stdout)
    assert stats["interactions"] > 10_000
    assert stats["users"] > 100
    assert stats["videos"] > 500
    assert 0 < stats["positives"] < stats["interactions"]
    assert (tmp_path / "w" / "truth").is_dir()
    table = reelrec("stats", str(tmp_path / "w"))
    assert "interactions" in table.stdout
    assert "watch_seconds" in table.stdout


def test_prepare_movielens_100k_counts(tmp_path: Path, shared_data: Callable[[str], Path]) -> None:
    src = shared_data("movielens-100k")
    assert (
        reelrec("prepare", "--format", "movielens", str(src), "-o", str(tmp_path / "x")).returncode
        == 0
    )
    stats = json.loads(reelrec("stats", str(tmp_path / "x"), "--json").stdout)
    assert (stats["interactions"], stats["users"], stats["videos"]) == (100000, 943, 1682)


@pytest.mark.slow
def test_prepare_movielens_1m_counts(tmp_path: Path, shared_data: Callable[[str], Path]) -> None:
    src = shared_data("movielens-1m")
    assert (
        reelrec("prepare", "--format", "movielens", str(src), "-o", str(tmp_path / "a")).returncode
        == 0
    )
    stats = json.loads(reelrec("stats", str(tmp_path / "a"), "--json").stdout)
    assert (stats["interactions"], stats["users"], stats["videos"]) == (1000209, 6040, 3706)
    args = [
        "prepare",
        "--format",
        "movielens",
        str(src),
        "-o",
        str(tmp_path / "b"),
        "--min-rating",
        "3",
    ]
    assert reelrec(*args).returncode == 0
    assert (
        json.loads(reelrec("stats", str(tmp_path / "b"), "--json").stdout)["interactions"] == 836478
    )


GOOD = {
    "user_id": ["u1", "u2", "u3"],
    "video_id": ["v1", "v1", "v2"],
    "timestamp": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-02T00:00:00Z"],
    "watch_seconds": ["3", "0", "7.5"],
    "video_seconds": ["10", "10", "12"],
    "liked": ["0", "1", "0"],
    "shared": ["0", "0", "0"],
    "commented": ["0", "0", "1"],
    "followed": ["0", "0", "0"],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": "liked"}, "interactions.csv: missing required column 'liked'"),
        ({"watch_seconds": ["3", "-2", "1"]}, "interactions.csv row 2: column 'watch_seconds'"),
        (
            {"timestamp": ["2024-01-01", "2024-01-01", "not-a-time"]},
            "interactions.csv row 3: column 'timestamp'",
        ),
    ],
)
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_bad_input_exit_1_one_line_nothing_written(
    tmp_path: Path, change: dict[str, object], message: str, suffix: str
) -> None:
    data = dict(GOOD)
    if "drop" in change:
        del data[str(change["drop"])]
    else:
        data.update(change)  # type: ignore[arg-type]
    src = tmp_path / "src"
    src.mkdir()
    frame = pl.DataFrame(data)
    if suffix == "csv":
        frame.write_csv(src / "interactions.csv")
    else:
        frame.write_parquet(src / "interactions.parquet")
        message = message.replace(".csv", ".parquet")
    out = tmp_path / "out"
    done = reelrec("prepare", "--format", "reelrec", str(src), "-o", str(out))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not out.exists() or not any(out.iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_prepare_reelrec_csv_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    pl.DataFrame(GOOD).write_csv(src / "interactions.csv")
    assert (
        reelrec("prepare", "--format", "reelrec", str(src), "-o", str(tmp_path / "o")).returncode
        == 0
    )
    stats = json.loads(reelrec("stats", str(tmp_path / "o"), "--json").stdout)
    assert (stats["interactions"], stats["users"], stats["videos"]) == (3, 3, 2)


def test_config_error_is_one_line() -> None:
    done = reelrec("config", "validate", "--set", "train.lr=3")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: unknown config key 'train.lr'")
