"""Ranker quality: ranked order against the two-tower order on the same candidates, same run.

Per protocol: NDCG@10 (and hits@10) of held-out positives among the ``ranking.candidates``
retrieved per user — two-tower order vs ranker feed score —, then AUC per head and XAUC of the
watch head on held-out impressions (n/a for heads without labels in the data).

- ``synthetic``: the synthetic world (tiny for ``--size tiny``, small otherwise), global
  temporal split 90/10; also the ranker trained on the latest 30% of training impressions
  instead of all (the two-tower score is optimistic on the towers' own training positives).
- ``ml-100k``: MovieLens-100K, per-user temporal leave-last-out; ratings ≥ 3 are positive and
  the ``like`` label; unrated retrieval candidates are sampled as non-engaged impressions.
- ``ml-1m``: MovieLens-1M (no timestamps here), per-user random 80/20 (``--size full``).
- ``kuairec``: KuaiRec random83 (random exposure, watch ratio only): per-user random 80/20 of
  exposures; the ranker's watch head vs the item-mean-watch-ratio baseline (means from the 80%),
  AUC of ``watch_ratio ≥ 2`` (KuaiRec's own "like" definition) and of ``≥ 1``, three seeds.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import common

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def candidate_ndcg(rec, test, n_cand: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """NDCG@10 / hits@10 of tower vs ranker order on the same retrieved candidates."""
    import numpy as np
    import polars as pl

    from reelrec.data.signals import positive_expr
    from reelrec.ranking.metrics import ndcg_at_k

    space = rec.space_
    pos = test.filter(positive_expr(test.columns, rec.config.data))
    users = space.users.encode(pos.get_column("user_id"))
    videos = space.videos.encode(pos.get_column("video_id"))
    ok = (users >= 0) & (users < space.users.n_known) & (videos >= 0)
    ok &= videos < space.videos.n_known
    pairs = pl.DataFrame({"u": users[ok], "v": videos[ok]})
    if "timestamp" in pos.columns:
        t = pos.get_column("timestamp").dt.epoch("us").cast(pl.Float64).to_numpy()[ok] / 1e6
        pairs = pairs.with_columns(pl.Series("t", t))
    else:
        pairs = pairs.with_columns(pl.lit(float("nan")).alias("t"))
    grouped = pairs.group_by("u", maintain_order=True).agg(pl.col("v"), pl.col("t").min())
    user_idx = grouped.get_column("u").to_numpy().astype(np.int64)
    at = grouped.get_column("t").to_numpy()
    cand, tower = rec.retrieve(user_idx, n_cand, at_seconds=at)
    ranked, _ = rec.rank(user_idx, cand, at_seconds=at)
    relevant = grouped.get_column("v").to_list()
    gains = np.stack([np.isin(cand[r], relevant[r]) for r in range(len(relevant))]).astype(float)
    has = gains.sum(axis=1) > 0
    tower = np.where(cand >= 0, tower, -np.inf)
    out = {"users": float(has.sum()), "users_all": float(len(relevant))}
    for name, scores in (("tower", tower), ("ranker", ranked)):
        out[f"ndcg@10/{name}"] = float(np.mean(ndcg_at_k(scores[has], gains[has], 10)))
        top = np.argsort(-scores[has], axis=1, kind="stable")[:, :10]
        out[f"hits@10/{name}"] = float(np.take_along_axis(gains[has], top, axis=1).sum(1).mean())
    return out


def head_metrics(rec, test, max_rows: int = 200_000) -> dict[str, float | None]:  # type: ignore[no-untyped-def]
    """AUC per head and XAUC of the watch head on held-out impressions."""
    import numpy as np

    from reelrec.ranking.metrics import head_report
    from reelrec.ranking.model import HEADS
    from reelrec.ranking.train import impressions

    cfg = rec.config.ranking
    imp = impressions(test, rec.space_, rec.config.data, cfg)
    if len(imp) > max_rows:
        imp = imp.take(np.sort(np.random.default_rng(0).choice(len(imp), max_rows, replace=False)))
    _, heads = rec.rank(imp.user, imp.video[:, None], at_seconds=imp.time)
    available = rec.ranker_.runtime.available
    report = head_report(heads[:, 0], imp.labels, imp.mask, available, HEADS, 1.0 / cfg.watch_cap)
    return {"rows": float(len(imp)), **report}


def _print(title: str, ndcg: dict[str, float], heads: dict[str, float | None]) -> None:
    print(f"\n== {title}")
    t, r = ndcg["ndcg@10/tower"], ndcg["ndcg@10/ranker"]
    print(
        f"  NDCG@10 on {ndcg['users']:.0f}/{ndcg['users_all']:.0f} users with a held-out positive "
        f"among the candidates: two-tower {t:.4f}  ranker {r:.4f}  ({r / max(t, 1e-12):.2f}×, "
        f"{'ranker ahead' if r > t else 'ranker NOT ahead'}); hits@10 "
        f"{ndcg['hits@10/tower']:.3f} → {ndcg['hits@10/ranker']:.3f}"
    )
    shown = "  ".join(
        f"{k} {'n/a' if v is None else f'{v:.4f}'}" for k, v in heads.items() if k != "rows"
    )
    print(f"  held-out impressions {heads['rows']:.0f}: {shown}")


def synthetic(args) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from reelrec.config import load_config
    from reelrec.data.splits import split_by_time
    from reelrec.data.synthetic import make_world
    from reelrec.recommender import Recommender

    size = "tiny" if args.size == "tiny" else "small"
    world = make_world(size, seed=0)
    train, test = split_by_time(world.dataset.interactions, 0.1)
    cfg = load_config(Path("configs/tiny.toml" if size == "tiny" else "configs/demo.toml"))
    data = world.dataset.with_interactions(train)
    rec = Recommender.from_config(cfg).fit(data)
    ndcg, heads = candidate_ndcg(rec, test, cfg.ranking.candidates), head_metrics(rec, test)
    _print(f"synthetic-{size} (temporal 90/10)", ndcg, heads)
    # Ablation: the ranker on the latest 30% of training impressions only (the default trains
    # on all of them, where the tower score is optimistic on the towers' own positives).
    rec.config = cfg.model_copy(
        update={"ranking": cfg.ranking.model_copy(update={"train_fraction": 0.3})}
    )
    rec._fit_ranker(data)
    ablation = candidate_ndcg(rec, test, cfg.ranking.candidates)
    print(
        f"  ablation, ranker on the latest 30% of training impressions: NDCG@10 "
        f"{ablation['ndcg@10/ranker']:.4f} vs all impressions {ndcg['ndcg@10/ranker']:.4f}"
    )
    return {"ndcg": ndcg, "heads": heads, "ablation_latest_30pct": ablation}


def movielens(args, name: str) -> dict[str, object] | None:  # type: ignore[no-untyped-def]
    from reelrec.config import load_config
    from reelrec.data.public import prepare
    from reelrec.data.splits import leave_last_out, split_random
    from reelrec.recommender import Recommender

    src = SHARED / ("movielens-100k" if name == "ml-100k" else "movielens-1m")
    if not src.is_dir():
        print(f"skip {name}: {src} not found")
        return None
    ds = prepare("movielens", src)
    if name == "ml-100k":
        train, test = leave_last_out(ds.interactions)
    else:
        train, test = split_random(ds.interactions, (0.8, 0.2), seed=0)
    overrides = ["train.epochs=10"] if args.size != "full" else []
    cfg = load_config(Path("configs/movielens.toml"), overrides)
    rec = Recommender.from_config(cfg).fit(ds.with_interactions(train))
    ndcg, heads = candidate_ndcg(rec, test, cfg.ranking.candidates), head_metrics(rec, test)
    _print(f"{name} ({'leave-last-out' if name == 'ml-100k' else 'random 80/20'})", ndcg, heads)
    return {"ndcg": ndcg, "heads": heads}


def kuairec(args) -> dict[str, object] | None:  # type: ignore[no-untyped-def]
    import numpy as np
    import polars as pl

    from reelrec.config import load_config
    from reelrec.data.public import prepare
    from reelrec.data.splits import split_random
    from reelrec.ranking.metrics import auc
    from reelrec.recommender import Recommender

    src = SHARED / "kuairec-random83"
    if not src.is_dir():
        print(f"skip kuairec: {src} not found")
        return None
    ds = prepare("kuairec", src)
    # Trained on exposures only: every row is a random exposure with a watch ratio.
    cfg = load_config(
        Path("configs/tiny.toml"), ["ranking.epochs=8", "ranking.sampled_negatives=0"]
    )
    print("\n== kuairec-random83 (per-user random 80/20 of random exposures)")
    results: dict[str, object] = {}
    for seed in (0, 1, 2) if args.size != "tiny" else (0,):
        train, test = split_random(ds.interactions, (0.8, 0.2), seed=seed)
        rec = Recommender.from_config(cfg).fit(ds.with_interactions(train))
        means = train.group_by("video_id").agg(pl.col("watch_ratio").mean().alias("m"))
        test = test.join(means, on="video_id", how="left").with_columns(
            pl.col("m").fill_null(train.get_column("watch_ratio").mean())
        )
        known = rec.space_.videos.encode(test.get_column("video_id")) < rec.space_.videos.n_known
        test = test.filter(pl.Series(known))  # both scorers need the video in training
        user = rec.space_.users.encode(test.get_column("user_id"))
        video = rec.space_.videos.encode(test.get_column("video_id"))
        score, heads = rec.rank(user, video[:, None])
        wr = test.get_column("watch_ratio").to_numpy()
        row: dict[str, float] = {}
        for thr in (2.0, 1.0):
            y = wr >= thr
            row[f"wr>={thr:g}/item_mean"] = auc(y, test.get_column("m").to_numpy())
            row[f"wr>={thr:g}/ranker_watch"] = auc(y, heads[:, 0, 0])
            row[f"wr>={thr:g}/ranker_score"] = auc(y, score[:, 0])
        results[f"seed{seed}"] = row
        print(
            f"  seed {seed}: AUC(watch_ratio ≥ 2) item-mean {row['wr>=2/item_mean']:.4f}  "
            f"ranker watch head {row['wr>=2/ranker_watch']:.4f}  feed score "
            f"{row['wr>=2/ranker_score']:.4f} | AUC(≥ 1) item-mean {row['wr>=1/item_mean']:.4f}"
            f"  ranker {row['wr>=1/ranker_watch']:.4f}"
        )
    rows = list(results.values())
    base = float(np.mean([r["wr>=2/item_mean"] for r in rows]))  # type: ignore[index]
    ours = float(np.mean([r["wr>=2/ranker_watch"] for r in rows]))  # type: ignore[index]
    verdict = "above" if ours > base else "NOT above"
    print(f"  mean AUC(≥ 2): ranker {ours:.4f} vs item-mean baseline {base:.4f} → {verdict}")
    return results


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument(
        "--dataset", choices=["synthetic", "ml-100k", "ml-1m", "kuairec", "all"], default="all"
    )
    args = p.parse_args()
    common.pin_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    print(common.hardware_line())
    chosen = {
        "tiny": ["synthetic"],
        "small": ["synthetic", "ml-100k", "kuairec"],
        "full": ["synthetic", "ml-100k", "ml-1m", "kuairec"],
    }[args.size]
    if args.dataset != "all":
        chosen = [args.dataset]
    started = time.perf_counter()
    results: dict[str, object] = {}
    for name in chosen:
        if name == "synthetic":
            results[name] = synthetic(args)
        elif name == "kuairec":
            results[name] = kuairec(args)
        else:
            results[name] = movielens(args, name)
    seconds = time.perf_counter() - started
    print(f"\n({seconds:.0f} s)")
    if not args.no_record:
        common.record("ranker_quality", size=args.size, seconds=seconds, results=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
