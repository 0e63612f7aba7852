"""Plumbing shared by every ``benchmarks/bench_*.py``: arguments, thread pinning, timing, records.

Benchmarks run as scripts (``python benchmarks/bench_x.py --size tiny|small|full``), so they
import this module as ``common``. The usual shape::

    import common

    def main() -> int:
        args = common.parser(__doc__).parse_args()
        common.pin_threads(args.threads)      # before numpy / polars / torch are imported
        import numpy as np                    # heavy imports after pinning
        with common.stopwatch() as clock:
            work()
        common.record("name", size=args.size, seconds=clock.seconds)

Each ``record`` appends one JSON line to ``benchmarks/results/<name>.jsonl`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SIZES = ("tiny", "small", "full")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "RAYON_NUM_THREADS",
)
_LIBRARIES = ("numpy", "polars", "pyarrow", "torch", "faiss", "scipy")


def parser(description: str | None, default_size: str = "small") -> argparse.ArgumentParser:
    """An argument parser with the flags every benchmark takes (``--size``, ``--threads``)."""
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", choices=SIZES, default=default_size, help="workload size")
    p.add_argument(
        "--threads", type=int, default=None, help="threads for numpy/polars/torch (default: all)"
    )
    p.add_argument("--no-record", action="store_true", help="do not append to benchmarks/results")
    return p


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def pin_threads(n: int | None = None) -> int:
    """Fix the thread count of BLAS/OpenMP, Polars and torch to ``n`` (default: all cores).

    Environment variables only take effect before the libraries are imported, so call this
    first; torch, if already imported, is pinned directly. Returns the thread count.
    """
    n = available_cores() if n is None else max(1, n)
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    return n


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def hardware() -> dict[str, Any]:
    """The machine and library versions a measurement was taken on."""
    versions = {
        name: str(getattr(sys.modules[name], "__version__", "?"))
        for name in _LIBRARIES
        if name in sys.modules
    }
    return {
        "cpu": _cpu_model(),
        "cores": available_cores(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None,
        "versions": versions,
    }


def hardware_line() -> str:
    """One human line: CPU, cores, memory, Python and library versions."""
    hw = hardware()
    libs = " ".join(f"{k} {v}" for k, v in hw["versions"].items())
    threads = f", {hw['threads']} threads" if hw["threads"] else ""
    return (
        f"{hw['cpu']} ({hw['cores']} cores{threads}, {hw['memory_gib']} GiB), {hw['os']}, "
        f"Python {hw['python']}, {libs}"
    )


@dataclass(slots=True)
class Stopwatch:
    """Seconds elapsed inside a ``stopwatch()`` block (set when the block ends)."""

    seconds: float = 0.0


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Time a block with ``time.perf_counter``."""
    watch = Stopwatch()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start


@dataclass(frozen=True, slots=True)
class Timing:
    """Repeated timings of one callable."""

    runs: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        """Fastest run (seconds)."""
        return min(self.runs)

    @property
    def median(self) -> float:
        """Median run (seconds)."""
        return statistics.median(self.runs)


def timed(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeat`` times timed."""
    for _ in range(warmup):
        fn()
    runs: list[float] = []
    for _ in range(max(1, repeat)):
        with stopwatch() as watch:
            fn()
        runs.append(watch.seconds)
    return Timing(runs=runs)


def rate(count: float, seconds: float) -> str:
    """``count / seconds`` as a short human string (``1.23M/s``)."""
    per_second = count / seconds if seconds > 0 else float("inf")
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if per_second >= scale:
            return f"{per_second / scale:.2f}{suffix}/s"
    return f"{per_second:.2f}/s"


def record(bench: str, **fields: Any) -> Path:
    """Append one measurement as a JSON line to ``benchmarks/results/<bench>.jsonl``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{bench}.jsonl"
    line = {
        "bench": bench,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "hardware": hardware(),
        **fields,
    }
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True, default=str) + "\n")
    return path
