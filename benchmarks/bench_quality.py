"""Retrieval quality: reelrec against baselines measured in the same run, on three protocols.

- ``ml-1m``: MovieLens-1M, RecBole's protocol (ratings ≥ 3; per-user random 8:1:1 split; full
  ranking; train and validation items masked at test; early stopping on validation).
  Target (issue 3): Recall@10 ≥ 0.21 and NDCG@10 ≥ 0.28, ahead of every baseline.
- ``ml-100k``: MovieLens-100K, per-user temporal leave-last-out. Target: ≥ 1.2× ALS.
- ``synthetic``: the synthetic world, global temporal split; the cold-video slice.

``--size tiny`` runs the tiny synthetic world only (CI), ``small`` adds ML-100K and the small
world, ``full`` adds ML-1M. ``--dataset`` picks one protocol.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import common

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SHOWN = ("recall@10", "ndcg@10", "recall@50", "auc", "coverage@10", "cold_videos/recall@50")


def _print(title: str, results: dict[str, dict[str, float]], seconds: float) -> None:
    print(f"\n== {title} ({seconds:.0f} s)")
    print(f"{'model':<14}" + "".join(f"{k:>24}" for k in SHOWN))
    for name, metrics in results.items():
        print(f"{name:<14}" + "".join(f"{metrics.get(k, float('nan')):>24.4f}" for k in SHOWN))


def _report(
    title: str, results: dict[str, dict[str, float]], seconds: float, args, **extra
) -> None:  # type: ignore[no-untyped-def]
    _print(title, results, seconds)
    ours = results["reelrec"]
    for name, metrics in results.items():
        if name != "reelrec" and metrics["recall@10"] > 0:
            ratio_r = ours["recall@10"] / metrics["recall@10"]
            ratio_n = ours["ndcg@10"] / max(metrics["ndcg@10"], 1e-12)
            print(f"  reelrec / {name}: recall@10 {ratio_r:.2f}×, ndcg@10 {ratio_n:.2f}×")
    if not args.no_record:
        common.record(
            "quality", protocol=title, size=args.size, seconds=seconds, results=results, **extra
        )


def ml_1m(args, overrides: list[str]) -> None:  # type: ignore[no-untyped-def]
    from reelrec.comparison import evaluate
    from reelrec.config import load_config
    from reelrec.data.public import prepare
    from reelrec.data.splits import split_random
    from reelrec.recommender import Recommender

    src = SHARED / "movielens-1m"
    if not src.is_dir():
        print(f"skip ml-1m: {src} not found")
        return
    ds = prepare("movielens", src, min_rating=3)
    train, valid, test = split_random(ds.interactions, (0.8, 0.1, 0.1), seed=2020)
    cfg = load_config(Path("configs/movielens.toml"), overrides)
    started = time.perf_counter()
    rec = Recommender.from_config(cfg).fit(ds.with_interactions(train), validation=valid)
    results = evaluate(
        rec, test, ks=(10, 20, 50), baselines=["popular", "ease", "als", "id-two-tower"],
        train=ds.with_interactions(train), validation=valid,
    )  # fmt: skip
    _report("ml-1m (RecBole RS 8:1:1, ratings ≥ 3)", results, time.perf_counter() - started, args)


def ml_100k(args, overrides: list[str]) -> None:  # type: ignore[no-untyped-def]
    from reelrec.comparison import evaluate
    from reelrec.config import load_config
    from reelrec.data.public import prepare
    from reelrec.data.splits import leave_last_out
    from reelrec.recommender import Recommender

    src = SHARED / "movielens-100k"
    if not src.is_dir():
        print(f"skip ml-100k: {src} not found")
        return
    ds = prepare("movielens", src)
    train, test = leave_last_out(ds.interactions)
    cfg = load_config(Path("configs/movielens.toml"), ["data.positive_min_rating=0", *overrides])
    started = time.perf_counter()
    rec = Recommender.from_config(cfg).fit(ds.with_interactions(train))
    results = evaluate(
        rec, test, ks=(10, 20, 50), baselines=["popular", "ease", "als", "id-two-tower"],
        train=ds.with_interactions(train),
    )  # fmt: skip
    _report("ml-100k (temporal leave-last-out)", results, time.perf_counter() - started, args)


def synthetic(args, overrides: list[str]) -> None:  # type: ignore[no-untyped-def]
    from reelrec.comparison import evaluate
    from reelrec.config import load_config
    from reelrec.data.splits import split_by_time
    from reelrec.data.synthetic import make_world
    from reelrec.recommender import Recommender

    size = "tiny" if args.size == "tiny" else "small"
    world = make_world(size, seed=0)
    train, test = split_by_time(world.dataset.interactions, 0.1)
    config = "configs/tiny.toml" if size == "tiny" else "configs/demo.toml"
    cfg = load_config(Path(config), overrides)
    started = time.perf_counter()
    rec = Recommender.from_config(cfg).fit(world.dataset.with_interactions(train))
    baselines = ["popular", "id-two-tower"] + (["ease", "als"] if size == "tiny" else ["als"])
    results = evaluate(
        rec, test, ks=(10, 50), baselines=baselines, train=world.dataset.with_interactions(train)
    )
    _report(f"synthetic-{size} (temporal 90/10)", results, time.perf_counter() - started, args)


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--dataset", choices=["ml-1m", "ml-100k", "synthetic", "all"], default="all")
    p.add_argument("--set", action="append", default=[], help="config override for reelrec")
    args = p.parse_args()
    common.pin_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # one line per epoch
    print(common.hardware_line())
    chosen = {
        "tiny": ["synthetic"],
        "small": ["ml-100k", "synthetic"],
        "full": ["ml-1m", "ml-100k", "synthetic"],
    }[args.size]
    if args.dataset != "all":
        chosen = [args.dataset]
    runners = {"ml-1m": ml_1m, "ml-100k": ml_100k, "synthetic": synthetic}
    for name in chosen:
        runners[name](args, args.set)
    return 0


if __name__ == "__main__":
    sys.exit(main())
