"""Simulated online metrics on the synthetic world: reelrec vs MostPopular and random.

Policies, each on the same seeded users (mean over users, 95% CI): the full pipeline
(retrieve → rank → rules), rules off (retrieve → rank), retrieval only, MostPopular, random.
Claims checked: the full pipeline beats MostPopular and random on watch time per session and
completion rate with non-overlapping intervals; rules on vs off shows the diversity / fresh-share
gain and its watch-time cost. Also: A/A false-positive rate over 1000 seeded runs and a planted
+5% lift on 20k users. Timing baseline, measured in the same run: simulating the random policy
(the simulator's own cost); the ratio says what the pipeline adds.

``--size tiny`` trains a small run on the tiny world in-process; ``--run RUN --truth WORLD``
uses an existing run (``make demo`` leaves one in out/demo/run, world in out/demo/world).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import common

USERS = {"tiny": 100, "small": 2000, "full": 5000}
AA_RUNS = {"tiny": 1000, "small": 1000, "full": 1000}
CLAIM_METRICS = ("watch_time_per_session", "completion_rate")
SHOWN = (
    "watch_time_per_session",
    "completion_rate",
    "ctr",
    "interaction_rate",
    "session_length",
    "intra_feed_diversity",
    "fresh_share",
    "creator_coverage",
    "exposure_gini",
)


def _prepare(args: Any, tmp: Path) -> tuple[Path, Any]:
    from reelrec.config import load_config
    from reelrec.data.synthetic import load_truth, make_world
    from reelrec.recommender import Recommender

    if args.run:
        return Path(args.run), load_truth(args.truth)
    world = make_world(args.size, seed=0)
    cfg_path = Path(__file__).resolve().parents[1] / "configs" / "tiny.toml"
    quick = ["train.epochs=1", "ranking.epochs=1", "ranking.max_examples=5000"]
    quick = quick if args.size == "tiny" else []
    rec = Recommender.from_config(load_config(cfg_path, quick)).fit(world.dataset)
    rec.save(tmp / "run")
    return tmp / "run", world.truth


def _policies(run: Path) -> dict[str, Any]:
    from reelrec.policies import PopularPolicy, RandomPolicy, ReelrecPolicy
    from reelrec.recommender import Recommender

    def fresh(stages: tuple[str, ...] | None, name: str) -> Any:
        return lambda: ReelrecPolicy(Recommender.load(run), stages=stages, name=name)

    base = Recommender.load(run)
    ids = list(base.space_.videos.ids[: len(base.popularity_)])
    return {
        "reelrec": fresh(None, "reelrec"),
        "rules-off": fresh(("retrieve", "rank"), "rules-off"),
        "retrieval-only": fresh(("retrieve",), "retrieval-only"),
        "popular": lambda: PopularPolicy.from_recommender(base),
        "random": lambda: RandomPolicy(ids, seed=0),
    }


def _stat_checks(runs: int) -> dict[str, float]:
    import numpy as np

    from reelrec.evaluation.ab import assign, relative_lift

    ids = [f"u{i:06d}" for i in range(20_000)]
    rng = np.random.default_rng(7)
    significant = 0
    for r in range(runs):
        values = rng.gamma(2.0, 60.0, 2000)
        arms = np.array(assign(ids[:2000], f"aa-{r}", {"a": 0.5, "b": 0.5}))
        significant += relative_lift(values[arms == "b"], values[arms == "a"]).significant
    arms = np.array(assign(ids, "planted", {"c": 0.5, "t": 0.5}))
    watch = rng.gamma(2.0, 60.0, len(ids)) * np.where(arms == "t", 1.05, 1.0)
    lift = relative_lift(watch[arms == "t"], watch[arms == "c"])
    return {
        "aa_not_significant": 1.0 - significant / runs,
        "planted_lift": lift.lift,
        "planted_lo": lift.lo,
        "planted_hi": lift.hi,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    p = common.parser(__doc__)
    p.add_argument("--run", help="existing run directory (else one is trained on --size)")
    p.add_argument("--truth", help="world folder with truth/ (with --run)")
    p.add_argument("--users", type=int, default=None, help="users per policy")
    p.add_argument("--days", type=int, default=1, help="simulated days")
    args = p.parse_args(argv)
    threads = common.pin_threads(args.threads)

    import numpy as np

    from reelrec.evaluation.online_metrics import summarize
    from reelrec.evaluation.simulation import SimulationSettings, simulate

    print(common.hardware_line())
    n_users = args.users or USERS[args.size]
    results: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench_sim_") as tmp:
        with common.stopwatch() as prep:
            run, truth = _prepare(args, Path(tmp))
        users = np.sort(np.random.default_rng(0).choice(truth.n_users, n_users, replace=False))
        settings = SimulationSettings(days=args.days, seed=0)
        n_creators = int(truth.video_creator.max()) + 1
        for name, make in _policies(run).items():
            policy = make()
            with common.stopwatch() as clock:
                log = simulate(truth, policy, users, settings)
            seconds[name] = clock.seconds
            est = summarize(log, n_videos=truth.n_videos, n_creators=n_creators)
            results[name] = {m: est[m] for m in SHOWN if m in est}
            results[name]["_impressions"] = log.height
            results[name]["_pipeline"] = getattr(policy, "pipeline", name)
    print(
        f"size={args.size}: {n_users} users per policy, {args.days} day(s); "
        f"prep {prep.seconds:.1f} s"
    )
    print(f"pipeline actually run by 'reelrec': {results['reelrec']['_pipeline']}")
    header = "metric".ljust(24) + "".join(n.rjust(26) for n in results)
    print(header)
    for m in SHOWN:
        cells = []
        for n in results:
            e = results[n].get(m)
            cells.append(f"{e.mean:.4g} [{e.lo:.4g},{e.hi:.4g}]".rjust(26) if e else "".rjust(26))
        print(m.ljust(24) + "".join(cells))
    claims: dict[str, bool] = {}
    for other in ("popular", "random"):
        for m in CLAIM_METRICS:
            ok = results["reelrec"][m].lo > results[other][m].hi
            claims[f"reelrec>{other}:{m}"] = ok
            print(
                f"claim reelrec > {other} on {m} (non-overlapping 95% CI): "
                f"{'met' if ok else 'NOT met'}"
            )
    on, off = results["reelrec"], results["rules-off"]
    for m in ("intra_feed_diversity", "fresh_share", "creator_coverage", "watch_time_per_session"):
        delta = on[m].mean - off[m].mean
        print(f"rules on vs off: {m} {off[m].mean:.4g} → {on[m].mean:.4g} ({delta:+.4g})")
    base = seconds["random"]
    for name, s in seconds.items():
        rate = common.rate(results[name]["_impressions"], s)
        print(f"time {name:<15} {s:7.2f} s ({rate} impressions; {s / base:.1f}× random)")
    stats = _stat_checks(AA_RUNS[args.size])
    print(
        f"A/A: not significant in {stats['aa_not_significant']:.1%} of {AA_RUNS[args.size]} runs "
        "(target ≥ 95%)"
    )
    print(
        f"planted +5.0% lift on 20k users: {stats['planted_lift']:+.2%} "
        f"[{stats['planted_lo']:+.2%}, {stats['planted_hi']:+.2%}]"
    )
    if not args.no_record:
        path = common.record(
            "simulation",
            size=args.size,
            threads=threads,
            users=n_users,
            days=args.days,
            metrics={
                n: {m: [e.mean, e.lo, e.hi] for m, e in r.items() if not m.startswith("_")}
                for n, r in results.items()
            },
            pipeline=results["reelrec"]["_pipeline"],
            claims=claims,
            seconds=seconds,
            baseline="simulating the random policy",
            **stats,
        )
        print(f"recorded in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
