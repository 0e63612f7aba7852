"""Run-directory workflows behind the CLI verbs: train, index, evaluate, recommend."""

from __future__ import annotations

from pathlib import Path

from reelrec.comparison import evaluate
from reelrec.config import load_config
from reelrec.data.readers import Dataset, read_dataset, read_interactions, write_dataset
from reelrec.data.splits import leave_last_out, split_by_time, split_random
from reelrec.errors import DataError
from reelrec.index.base import VectorIndex
from reelrec.recommender import Recommender, Slate
from reelrec.run_files import save_index


def train_run(
    data_dir: Path, run_dir: Path, config: Path | None, overrides: list[str]
) -> Recommender:
    """Train on ``data_dir`` and write ``run_dir`` (with an index, so it is ready to serve)."""
    cfg = load_config(config, overrides)
    dataset = read_dataset(data_dir)
    rec = Recommender.from_config(cfg).fit(dataset)
    rec.save(run_dir, data_dir=str(Path(data_dir).resolve()))
    return rec


def index_run(run_dir: Path) -> VectorIndex:
    """(Re)build ``run_dir/index`` from the run's model and catalogue."""
    rec = Recommender.load(run_dir, with_index=False)
    index = rec.build_index()
    save_index(rec, Path(run_dir))
    return index


def evaluate_run(
    run_dir: Path, test: Path, ks: list[int], baselines: list[str]
) -> dict[str, dict[str, float]]:
    """Metrics of the run and the named baselines on ``test`` (folder or interactions file)."""
    rec = Recommender.load(run_dir)
    train = None
    if "id-two-tower" in baselines:
        from reelrec.artifacts import read_manifest

        data_dir = read_manifest(run_dir).get("data_dir")
        if not data_dir or not Path(data_dir).exists():
            raise DataError(
                f"{run_dir}: the training data folder {data_dir!r} is gone; id-two-tower needs it"
            )
        train = read_dataset(data_dir)
    return evaluate(rec, read_interactions(test), ks, baselines, train=train)


def split_run(
    data_dir: Path, output: Path, method: str, test_fraction: float, seed: int
) -> tuple[int, int]:
    """Write ``output/train`` and ``output/test`` data folders; return their sizes."""
    ds = read_dataset(data_dir)
    if method == "time":
        train, test = split_by_time(ds.interactions, test_fraction)
    elif method == "leave-last-out":
        train, test = leave_last_out(ds.interactions)
    else:
        train, test = split_random(ds.interactions, (1.0 - test_fraction, test_fraction), seed=seed)
    for name, part in (("train", train), ("test", test)):
        write_dataset(
            Dataset(interactions=part, videos=ds.videos, users=ds.users), Path(output) / name
        )
    return train.height, test.height


def read_user_ids(path: Path) -> list[str]:
    """User ids from a file, one per line (blank lines ignored)."""
    if not Path(path).is_file():
        raise DataError(f"{path}: users file not found (expected one user id per line)")
    return [
        line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def recommend_run(run_dir: Path, user_ids: list[str], k: int) -> list[Slate]:
    """Feeds for ``user_ids`` from a trained and indexed run directory."""
    return Recommender.load(run_dir).recommend(user_ids, k)
