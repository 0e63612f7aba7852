"""The retrieval chain through the CLI on the tiny world: synth → train → index → evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def reelrec(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "reelrec", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    return done


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("chain")
    assert (
        reelrec("synth", "--size", "tiny", "--seed", "1", "-o", str(base / "world")).returncode == 0
    )
    split = reelrec("split", str(base / "world"), "-o", str(base / "split"), "--method", "time")
    assert split.returncode == 0, split.stderr
    train = reelrec(
        "train", str(base / "split" / "train"), "-o", str(base / "run"),
        "--config", "configs/tiny.toml", "--set", "train.epochs=2", "--set", "model.dim=16",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert (base / "run" / "manifest.json").exists()
    assert (base / "run" / "model.safetensors").exists()
    indexed = reelrec("index", str(base / "run"))
    assert indexed.returncode == 0, indexed.stderr
    return base


def test_evaluate_json_has_models_and_metrics(run_dir: Path) -> None:
    done = reelrec(
        "evaluate", str(run_dir / "run"), "--test", str(run_dir / "split" / "test"),
        "--k", "10,20", "--baselines", "popular,ease,als,id-two-tower", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert set(results) == {"reelrec", "popular", "ease", "als", "id-two-tower"}
    for metrics in results.values():
        for key in (
            "recall@10",
            "ndcg@10",
            "recall@20",
            "hit_rate@10",
            "mrr@10",
            "auc",
            "coverage@10",
        ):
            assert 0.0 <= metrics[key] <= 1.0
        assert "cold_videos/recall@10" in metrics


def test_recommend_batch_json_excludes_training(run_dir: Path) -> None:
    train = pl.read_parquet(run_dir / "split" / "train" / "interactions.parquet")
    users = train["user_id"].unique(maintain_order=True).head(50).to_list()
    (run_dir / "users.txt").write_text("\n".join(users) + "\n")
    done = reelrec(
        "recommend",
        str(run_dir / "run"),
        "--users",
        str(run_dir / "users.txt"),
        "-k",
        "7",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["user_id"] for line in lines] == users
    for line in lines:
        assert len(line["video_ids"]) == len(line["scores"]) == 7
        seen = set(train.filter(pl.col("user_id") == line["user_id"])["video_id"].to_list())
        assert not seen & set(line["video_ids"])


def test_recommend_needs_exactly_one_user_source(run_dir: Path) -> None:
    done = reelrec("recommend", str(run_dir / "run"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: give exactly one of --user")


def test_index_refuses_missing_run(tmp_path: Path) -> None:
    done = reelrec("index", str(tmp_path / "nothing"))
    assert done.returncode == 1
    assert "manifest.json" in done.stderr


def test_split_carries_the_world_truth_so_simulate_needs_no_truth_flag(run_dir: Path) -> None:
    from reelrec.data.synthetic import load_truth

    world = load_truth(run_dir / "world")
    carried = load_truth(run_dir / "split" / "train")
    assert carried.n_videos == world.n_videos
    assert carried.n_users == world.n_users
    assert not (run_dir / "split" / "test" / "truth").exists()
