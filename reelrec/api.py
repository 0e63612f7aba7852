"""Run-directory workflows behind the CLI verbs: train, index, evaluate, recommend."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from reelrec.artifacts import staged_dir
from reelrec.comparison import evaluate
from reelrec.config import load_config
from reelrec.data.readers import Dataset, read_dataset, read_interactions, write_dataset
from reelrec.data.splits import leave_last_out, split_by_time, split_random
from reelrec.errors import DataError
from reelrec.features.events import ApplyReport
from reelrec.index.base import VectorIndex
from reelrec.recommender import Recommender, Slate
from reelrec.run_files import save_catalog, save_index


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
    _carry_truth(Path(data_dir), Path(output) / "train")
    return train.height, test.height


def _carry_truth(data_dir: Path, train_dir: Path) -> None:
    """Copy a synthetic world's ground truth next to its training split (for ``simulate``)."""
    from reelrec.data.synthetic import TRUTH_DIR

    source = data_dir / TRUTH_DIR
    if not source.is_dir():
        return
    with staged_dir(train_dir / TRUTH_DIR) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)


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


# --- simulation and A/B (issue 7) -----------------------------------------------------


def _simulation_truth(run_dir: Path, truth_dir: Path | None):  # type: ignore[no-untyped-def]
    """The synthetic world behind a run: ``truth_dir`` or the run's data folder."""
    from reelrec.artifacts import read_manifest
    from reelrec.data.synthetic import TRUTH_DIR, load_truth

    if truth_dir is not None:
        return load_truth(truth_dir)
    data_dir = read_manifest(run_dir).get("data_dir")
    if not data_dir or not (Path(data_dir) / TRUTH_DIR).is_dir():
        raise DataError(
            f"{run_dir}: its data folder {data_dir!r} holds no synthetic ground truth "
            f"({TRUTH_DIR}/); the simulator scores feeds with the world that generated the data. "
            "Pass --truth WORLD_DIR (the folder `reelrec synth` wrote)"
        )
    return load_truth(data_dir)


def simulate_run(
    run_dir: Path,
    *,
    against: Path | None = None,
    baseline: str | None = None,
    users: int | None = None,
    days: int | None = None,
    seed: int | None = None,
    truth_dir: Path | None = None,
    report: Path | None = None,
) -> dict[str, object]:
    """Simulated A/B of ``run_dir`` ("reelrec") against another run or a baseline.

    Writes ``RUN_DIR/simulation/{simulation.json, report.html, log/}`` (``report`` moves the
    HTML) and returns the result (``variants``, ``lift``, ``srm``, ``settings``, ``report``).
    """
    import shutil

    from reelrec.artifacts import atomic_write_json
    from reelrec.evaluation.ab import ExposureLog, analyze
    from reelrec.evaluation.online_metrics import daily
    from reelrec.evaluation.report import write_report
    from reelrec.evaluation.simulation import Fatigue, Policy, SimulationSettings, simulate_ab
    from reelrec.policies import PopularPolicy, RandomPolicy, ReelrecPolicy

    run_dir = Path(run_dir)
    truth = _simulation_truth(run_dir, truth_dir)
    rec = Recommender.load(run_dir)
    cfg = rec.config.simulation
    settings = SimulationSettings(
        days=days or cfg.days,
        page_size=cfg.page_size,
        max_pages=cfg.max_pages,
        seed=cfg.seed if seed is None else seed,
        fatigue=Fatigue(
            base=cfg.fatigue_base, per_video=cfg.fatigue_per_video, per_skip=cfg.fatigue_per_skip
        ),
    )
    policies: dict[str, Policy] = {"reelrec": ReelrecPolicy(rec, feedback=cfg.feedback)}
    if against is not None:
        other = Path(against).resolve().name
        other = other if other != "reelrec" else "reelrec-b"
        policies[other] = ReelrecPolicy(Recommender.load(against), feedback=cfg.feedback)
    elif baseline == "random":
        policies["random"] = RandomPolicy(list(truth.video_ids.astype(str)), seed=settings.seed)
    else:
        policies["popular"] = PopularPolicy.from_recommender(rec)
    out_dir = run_dir / "simulation"
    n_creators = int(truth.video_creator.max()) + 1
    shares = {name: 1.0 / len(policies) for name in policies}
    experiment = f"simulate-{settings.seed}"
    info: dict[str, object] = {"experiment": experiment, "control": "reelrec", "shares": shares}
    info |= {"n_videos": truth.n_videos, "n_creators": n_creators, "seed": settings.seed}
    shutil.rmtree(out_dir / "log", ignore_errors=True)  # one simulation per log folder
    with ExposureLog(out_dir / "log", experiment=info) as log:
        run = simulate_ab(
            truth,
            policies,
            users_per_variant=users or cfg.users,
            settings=settings,
            experiment=experiment,
            log=log,
        )
    ab = analyze(
        run.impressions,
        control="reelrec",
        shares=shares,
        n_videos=truth.n_videos,
        n_creators=n_creators,
        seed=settings.seed,
    )
    result = ab.to_json()
    pipeline = getattr(policies["reelrec"], "pipeline", "")
    result["settings"] = {
        "users_per_variant": users or cfg.users,
        "days": settings.days,
        "seed": settings.seed,
        "page_size": settings.page_size,
        "reelrec_pipeline": pipeline,
    }
    per_day = daily(run.impressions, truth.n_videos)
    result["per_day"] = per_day.to_dicts()
    report_path = Path(report) if report is not None else out_dir / "report.html"
    write_report(report_path, result=result, estimates=ab.variants, per_day=per_day)
    result["report"] = str(report_path)
    atomic_write_json(out_dir / "simulation.json", result)
    return result


def ab_analyze_run(log_dir: Path) -> dict[str, object]:
    """Per-metric lift with 95% CIs and the SRM check of an exposure log folder."""
    from reelrec.evaluation.ab import analyze_log

    return analyze_log(log_dir).to_json()


def read_pairs(path: Path) -> tuple[list[str], list[str]]:
    """``(user_ids, video_ids)`` from a CSV of ``user_id,video_id`` rows (header optional).

    Raises:
        DataError: the file is missing, or a row (1-based, named) is not two non-empty ids.
    """
    import csv

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: pairs file not found (expected CSV rows user_id,video_id)")
    users: list[str] = []
    videos: list[str] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            cells = [c.strip() for c in row]
            if n == 1 and cells == ["user_id", "video_id"]:
                continue
            if not cells or cells == [""]:
                continue
            if len(cells) != 2 or not all(cells):
                raise DataError(
                    f"{path} row {n}: expected 2 non-empty columns user_id,video_id; got {row!r}"
                )
            users.append(cells[0])
            videos.append(cells[1])
    return users, videos


def score_run(run_dir: Path, pairs: Path) -> list[dict[str, object]]:
    """Ranker feed score and head predictions per ``(user_id, video_id)`` pair, input order.

    Unknown videos (not in the run's catalogue) get ``score`` and heads ``None``; unknown
    users are scored as cold users. Pairs are ranked per user in one batch.
    """
    import numpy as np

    from reelrec.ranking.model import HEADS

    users, videos = read_pairs(pairs)
    rec = Recommender.load(run_dir)
    if not users:
        return []
    user_idx = rec.user_idx(users)
    video_idx = rec.space_.videos.encode(videos)
    video_idx = np.where((video_idx >= 0) & (video_idx < len(rec.catalog_)), video_idx, -1)
    distinct, row = np.unique(user_idx, return_inverse=True)
    row = row.ravel()
    order = np.argsort(row, kind="stable")
    starts = np.searchsorted(row[order], np.arange(distinct.size))
    col = np.empty(row.size, dtype=np.int64)
    col[order] = np.arange(row.size) - starts[row[order]]
    grid = np.full((distinct.size, int(col.max()) + 1), -1, dtype=np.int64)
    grid[row, col] = video_idx
    scores, heads = rec.rank(distinct, grid)
    assert rec.ranker_ is not None
    available = rec.ranker_.runtime.available
    out: list[dict[str, object]] = []
    for i, (user, video) in enumerate(zip(users, videos, strict=True)):
        known = video_idx[i] >= 0
        h = heads[row[i], col[i]]
        out.append(
            {
                "user_id": user,
                "video_id": video,
                "score": float(scores[row[i], col[i]]) if known else None,
                "heads": {
                    name: float(h[j]) if known and available[j] else None
                    for j, name in enumerate(HEADS)
                },
            }
        )
    return out


# --- features and ingestion (issue 4) ------------------------------------------------------


def features_build_run(data_dir: Path, run_dir: Path) -> dict[str, Path]:
    """Materialise point-in-time features of every interaction in ``data_dir`` to
    ``run_dir/features/offline/{user,video}.parquet`` (atomically)."""
    from reelrec.features.offline import materialise

    return materialise(read_interactions(data_dir), Path(run_dir) / "features" / "offline")


def _read_records(path: Path) -> pl.DataFrame | list[dict[str, object]]:
    """Events from JSON Lines / a JSON array (records) or CSV / Parquet (a frame)."""
    import json

    if not Path(path).is_file():
        raise DataError(f"{path}: file not found (expected .jsonl, .json, .csv or .parquet)")
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix == ".csv":
            return pl.read_csv(path, try_parse_dates=True)
        text = Path(path).read_text(encoding="utf-8")
        if suffix == ".json":
            loaded = json.loads(text)
            return loaded if isinstance(loaded, list) else [loaded]
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except (OSError, ValueError, pl.exceptions.PolarsError) as e:
        raise DataError(f"{path}: cannot read events ({e})") from e


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    """What ``ingest_run`` did: videos added / already known, and the events report."""

    videos_added: int
    videos_known: int
    events: ApplyReport | None


def ingest_run(run_dir: Path, events: Path | None, videos: Path | None) -> IngestResult:
    """Add new videos (encode + index) and replay events into the run's online store.

    Videos first, so events may refer to them. The catalogue, index and live state (embedded
    store snapshot, ingested ids) are written back to ``run_dir`` atomically.
    """
    from reelrec.data.readers import read_table
    from reelrec.data.schema import VIDEOS
    from reelrec.features.live import save_live

    if events is None and videos is None:
        raise DataError("nothing to ingest: give --events FILE and/or --videos FILE")
    rec = Recommender.load(run_dir)
    added: list[str] = []
    known = 0
    if videos is not None:
        frame = read_table(videos, VIDEOS)
        added = rec.add_videos(frame)
        known = frame.height - len(added)
    report = rec.apply_events(_read_records(events)) if events is not None else None
    run_dir = Path(run_dir)
    if added:
        save_catalog(rec, run_dir)
        save_index(rec, run_dir)
    save_live(rec, run_dir)
    return IngestResult(videos_added=len(added), videos_known=known, events=report)
