"""Synthetic world: interactions generated per second, and seconds to generate + write Parquet.

Baseline, measured in the same run: writing the same three frames to Parquet alone
(``write_dataset``); the ratio says how many such writes the whole job costs. Target: ``--size
full`` (≥ 10M interactions, 1M videos) in under 120 s on a 2-core machine, writing included.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import common

TARGET_SECONDS = {"full": 120.0}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    p = common.parser(__doc__)
    p.add_argument("--seed", type=int, default=0, help="world seed")
    args = p.parse_args(argv)
    threads = common.pin_threads(args.threads)

    from reelrec.data.readers import write_dataset
    from reelrec.data.synthetic import make_world, write_world

    print(common.hardware_line())
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        with common.stopwatch() as generate:
            world = make_world(args.size, seed=args.seed)
        with common.stopwatch() as write:
            write_world(world, Path(tmp) / "world")
        with common.stopwatch() as baseline:
            write_dataset(world.dataset, Path(tmp) / "baseline")
    ds = world.dataset
    n = ds.interactions.height
    total = generate.seconds + write.seconds
    ratio = total / baseline.seconds
    print(
        f"size={args.size} seed={args.seed}: {n:,} interactions, {ds.videos.height:,} videos, "
        f"{ds.users.height:,} users"
    )
    print(f"generate {generate.seconds:.2f} s ({common.rate(n, generate.seconds)} interactions)")
    print(f"write    {write.seconds:.2f} s (Parquet + truth)")
    print(f"total    {total:.2f} s ({common.rate(n, total)} interactions, generate + write)")
    print(f"baseline {baseline.seconds:.2f} s (same frames, Parquet only); ratio {ratio:.1f}×")
    target = TARGET_SECONDS.get(args.size)
    met = None if target is None else total < target
    if target is not None:
        print(f"target   < {target:.0f} s: {'met' if met else 'MISSED'} ({total:.1f} s)")
    if not args.no_record:
        path = common.record(
            "synth",
            size=args.size,
            seed=args.seed,
            threads=threads,
            interactions=n,
            videos=ds.videos.height,
            users=ds.users.height,
            generate_s=round(generate.seconds, 4),
            write_s=round(write.seconds, 4),
            total_s=round(total, 4),
            interactions_per_s=round(n / total, 1),
            baseline="write_dataset of the same frames",
            baseline_s=round(baseline.seconds, 4),
            ratio_to_baseline=round(ratio, 3),
            target_s=target,
            met_target=met,
        )
        print(f"recorded in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
