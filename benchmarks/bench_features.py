"""Online feature store: one-user lookup latency (p50/p99) and events applied per second.

Stores: the embedded ``InMemoryStore`` and ``RedisStore`` on loopback (``$REELREC_BENCH_REDIS_URL``,
else a server started with ``scripts/redis.sh`` when ``redis-server`` is installed, else
"redis: skipped"). A lookup is ``user_features([user], t)``: the user's history window and
counters, as serving reads them per request. Baseline, measured in the same run: a plain dict
lookup plus a copy of a history-sized list (the floor any in-process store pays).
Targets: embedded lookup p99 ≤ 0.2 ms, Redis lookup p99 ≤ 1 ms, ≥ 20k events/s embedded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

SIZES = {
    "tiny": (500, 2_000, 20_000),
    "small": (5_000, 50_000, 200_000),
    "full": (50_000, 500_000, 1_000_000),
}
REDIS_EVENTS = {"tiny": 10_000, "small": 50_000, "full": 200_000}
HISTORY = 50
LOOKUPS = 3_000
TARGETS = {"embedded_p99_ms": 0.2, "redis_p99_ms": 1.0, "embedded_events_per_s": 20_000.0}


def _events(n_users: int, n_videos: int, n: int, seed: int = 0) -> list[Any]:
    import numpy as np

    from reelrec.features.events import Event

    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n)
    videos = rng.zipf(1.3, n) % n_videos
    ratio = rng.gamma(2.0, 0.4, n)
    liked = rng.random(n) < 0.1
    return [
        Event(
            event_id=f"e{i}",
            user_id=f"u{users[i]}",
            video_id=f"v{videos[i]}",
            timestamp=1_717_000_000.0 + i * 0.01,
            watch_ratio=float(ratio[i]),
            played=True,
            liked=bool(liked[i]),
            skipped=bool(ratio[i] < 0.25),
        )
        for i in range(n)
    ]


def _percentiles(fn: Any, keys: list[str], at: float) -> tuple[float, float]:
    import numpy as np

    for key in keys[:200]:  # warm-up
        fn([key], at)
    times = np.empty(len(keys))
    for i, key in enumerate(keys):
        start = time.perf_counter_ns()
        fn([key], at)
        times[i] = time.perf_counter_ns() - start
    return float(np.percentile(times, 50) / 1e6), float(np.percentile(times, 99) / 1e6)


def _apply_rate(store: Any, events: list[Any]) -> float:
    with common.stopwatch() as clock:
        report = store.apply_events(events)
    assert report.applied == len(events), report.failed[:3]
    return len(events) / clock.seconds


def _verdict(value: float, target: float, higher_is_better: bool) -> str:
    met = value >= target if higher_is_better else value <= target
    return "target met" if met else "target NOT met"


def _redis_url(tmp: Path) -> tuple[str | None, Path | None]:
    url = os.environ.get("REELREC_BENCH_REDIS_URL")
    if url:
        return url, None
    if shutil.which("redis-server") is None:
        return None, None
    script = Path(__file__).resolve().parents[1] / "scripts" / "redis.sh"
    state = tmp / "redis"
    started = subprocess.run(
        ["bash", str(script), "start", str(state)], capture_output=True, text=True, check=False
    )
    return (started.stdout.strip(), state) if started.returncode == 0 else (None, None)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    args = common.parser(__doc__).parse_args(argv)
    threads = common.pin_threads(args.threads)
    import numpy as np

    from reelrec.features.online import InMemoryStore

    n_users, n_videos, n_events = SIZES[args.size]
    print(common.hardware_line())
    events = _events(n_users, n_videos, n_events)
    at = events[-1].timestamp + 1.0
    rng = np.random.default_rng(1)
    keys = [f"u{u}" for u in rng.integers(0, n_users, LOOKUPS)]
    results: dict[str, float] = {}

    embedded = InMemoryStore(HISTORY)
    results["embedded_events_per_s"] = _apply_rate(embedded, events)
    results["embedded_p50_ms"], results["embedded_p99_ms"] = _percentiles(
        embedded.user_features, keys, at
    )
    table = {k: list(range(HISTORY)) for k in keys}
    base_p50, base_p99 = _percentiles(lambda k, _at: list(table[k[0]]), keys, at)
    print(f"size={args.size}: {n_users:,} users, {n_videos:,} videos, {n_events:,} events")
    print(
        f"embedded lookup  p50 {results['embedded_p50_ms']:.4f} ms  p99 "
        f"{results['embedded_p99_ms']:.4f} ms  (baseline dict+copy p50 {base_p50:.4f} ms, "
        f"ratio {results['embedded_p50_ms'] / base_p50:.1f}×)  "
        + _verdict(results["embedded_p99_ms"], TARGETS["embedded_p99_ms"], False)
    )
    print(
        f"embedded apply   {results['embedded_events_per_s']:,.0f} events/s  "
        + _verdict(results["embedded_events_per_s"], TARGETS["embedded_events_per_s"], True)
    )

    results["add_ms"] = _add_latency(n_videos)
    print(
        f"new video        add + first search {results['add_ms']:.3f} ms "
        f"(configured index over {n_videos:,} videos; target < 1000 ms: "
        f"{'met' if results['add_ms'] < 1000 else 'NOT met'})"
    )

    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp:
        url, state = _redis_url(Path(tmp))
        try:
            if url is None:
                print("redis: skipped (no REELREC_BENCH_REDIS_URL and no redis-server)")
            else:
                _bench_redis(url, events[: REDIS_EVENTS[args.size]], keys, at, results)
        finally:
            if state is not None:
                script = Path(__file__).resolve().parents[1] / "scripts" / "redis.sh"
                subprocess.run(["bash", str(script), "stop", str(state)], check=False)
    if not args.no_record:
        common.record(
            "features",
            size=args.size,
            threads=threads,
            baseline_p50_ms=base_p50,
            baseline_p99_ms=base_p99,
            **results,
        )
    return 0


def _add_latency(n_videos: int, dim: int = 64, repeats: int = 20) -> float:
    """Median ms from ``index.add`` of one new vector until a search returns it first."""
    import numpy as np

    from reelrec.config import IndexConfig
    from reelrec.index.factory import build_index

    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((n_videos + repeats, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_index(IndexConfig(), np.arange(n_videos), vectors[:n_videos])
    times = []
    for i in range(repeats):
        new = vectors[n_videos + i : n_videos + i + 1]
        start = time.perf_counter()
        index.add(np.array([n_videos + i]), new)
        found, _ = index.search(new, 1)
        times.append((time.perf_counter() - start) * 1e3)
        assert found[0, 0] == n_videos + i
    return float(np.median(times))


def _bench_redis(
    url: str, events: list[Any], keys: list[str], at: float, out: dict[str, float]
) -> None:
    from reelrec.features.redis_store import RedisStore

    store = RedisStore(url, HISTORY, prefix="bench:")
    try:
        store.clear()
        out["redis_events_per_s"] = _apply_rate(store, events)
        out["redis_p50_ms"], out["redis_p99_ms"] = _percentiles(store.user_features, keys, at)
        store.clear()
    finally:
        store.close()
    print(
        f"redis lookup     p50 {out['redis_p50_ms']:.4f} ms  p99 {out['redis_p99_ms']:.4f} ms  "
        + _verdict(out["redis_p99_ms"], TARGETS["redis_p99_ms"], False)
    )
    print(f"redis apply      {out['redis_events_per_s']:,.0f} events/s (pipelined batches)")


if __name__ == "__main__":
    sys.exit(main())
