"""Serving: the feed service on one core at up to 1M videos — per-stage and end-to-end latency,
feeds/s, a load test with a hot reload in the middle, and ANN against exact scoring.

Set-up (cached in ``benchmarks/results/serving-<size>-…/``, git-ignored): a two-tower model and
ranker trained on the tiny synthetic world, whose catalogue is extended to ``--videos`` videos
by copies of real videos' content. Each copy's vector is its source's plus Gaussian noise drawn
from the real item vectors' own covariance (``--spread`` scales it; 1.0 gives cosine ≈ 0.95 to
the source), then unit-normalised: the copies spread along the directions the trained tower
actually uses (effective dimension ≈ 7 of 64). Isotropic noise, used before, filled all 64
dimensions with near-equidistant points — a distribution no tower produces, on which HNSW's
recall@100 was 0.21. Indexed by HNSW (``--hnsw-m``, ``--ef-construction``; ``ann/``) and by
exact faiss Flat (``exact/``); the served beam is ``--ef-search`` (at least the 500 candidates).

Measured in one run:

1. in-process, one thread: the service's feed pipeline (user tower → ANN top-500 → ranker over
   500 → rules) for the ANN and the exact run; per-stage p50/p99 and the exact/ANN ratio; ANN
   recall@100 against exact on real user vectors; load time of the run directory;
2. over HTTP: ``reelrec serve`` as a subprocess pinned to one core (the last; ``taskset``, one
   thread for BLAS/OpenMP/faiss), load driven from this process on core 0 over loopback with raw
   keep-alive HTTP/1.1: after a warm-up (8 s; 1 s at ``tiny``) (first page faults; the
   index moving onto huge pages), sequential requests for latency (client-side end to end plus the
   service's own per-stage ``Server-Timing``), then ``--requests`` at concurrency 32 for feeds/s,
   with a hot reload (``POST /v1/admin/reload``) fired a third of the way in; every request
   must answer 200 with the full pipeline (no fallback, no degraded stage).

Targets (issue 6): p50 ≤ 3 ms and p99 ≤ 10 ms end to end at 1M videos on one core; ≥ 300
feeds/s; recall@100 ≥ 0.95; zero errors in the load test and across the reload.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common

ROOT = Path(__file__).resolve().parents[1]
PLAN = {
    "tiny": {
        "videos": 20_000,
        "latency": 150,
        "requests": 600,
        "epochs": 1,
        "config": "tiny",
        "warm_up_s": 1.0,
    },
    "small": {
        "videos": 200_000,
        "latency": 2_000,
        "requests": 20_000,
        "epochs": 2,
        "config": None,
        "warm_up_s": 8.0,
    },
    "full": {
        "videos": 1_000_000,
        "latency": 3_000,
        "requests": 20_000,
        "epochs": 2,
        "config": None,
        "warm_up_s": 8.0,
    },
}
CONCURRENCY = 32
# The server gets the last core and the client core 0: on this VM core 0 also takes the
# interrupts, and a server pinned there measured ~12% slower per request.
SERVER_CORE = -1
STAGES = ("features", "user_tower", "ann", "ranking", "rules")


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


# --- set-up ----------------------------------------------------------------------------------
def build(size: str, n_videos: int, folder: Path, spread: float, hnsw: tuple[int, int]) -> None:
    """Train, extend the catalogue to ``n_videos``, and save ``ann/`` and ``exact/`` run dirs."""
    import numpy as np

    from reelrec.config import load_config
    from reelrec.data.splits import split_by_time
    from reelrec.data.synthetic import make_world
    from reelrec.features.vocab import Vocabulary
    from reelrec.index.faiss_index import FaissIndex
    from reelrec.recommender import Recommender
    from reelrec.run_files import save_index

    plan = PLAN[size]
    config = ROOT / "configs" / "tiny.toml" if plan["config"] == "tiny" else None
    overrides = [f"train.epochs={plan['epochs']}", "ranking.epochs=1", "train.validation_users=0"]
    if size == "tiny":  # CI: a quick ranker is enough to measure the serving path
        overrides.append("ranking.max_examples=20000")
    cfg = load_config(config, overrides)
    world = make_world("tiny", seed=0)
    train, _ = split_by_time(world.dataset.interactions, 0.1)
    rec = Recommender.from_config(cfg).fit(world.dataset.with_interactions(train))
    n_real = len(rec.catalog_)
    extra = max(0, n_videos - n_real)
    rng = np.random.default_rng(0)
    source = rng.integers(0, n_real, extra)
    real = rec.index_.get_vectors(np.arange(n_real))
    # Perturb along the real catalogue's own covariance (its effective dimension is ~7 of 64):
    # isotropic noise would fill all 64 dimensions, a distribution no trained tower produces.
    dim = real.shape[1]
    chol = np.linalg.cholesky(np.cov(real.T) + 1e-6 * np.eye(dim)).astype(np.float32)
    noise = rng.standard_normal((extra, dim)).astype(np.float32) @ chol.T
    vectors = real[source] + spread * noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    copies = rec.catalog_.take(source)
    upload = rec.space_.reference_seconds - rng.uniform(0, 30 * 86400, extra)
    copies = type(copies)(**{
        **{k: getattr(copies, k) for k in copies.__dataclass_fields__},
        "video_idx": np.full(extra, -1, np.int64),
        "upload_seconds": upload,
    })  # fmt: skip
    space = rec.space_
    space.videos = Vocabulary(
        [*space.videos.ids, *(f"s{i:07d}" for i in range(extra))], space.videos.oov_buckets
    )
    rec.catalog_ = rec.catalog_.concat(copies)
    all_vectors = np.concatenate([real, vectors])
    ids = np.arange(len(all_vectors), dtype=np.int64)
    common.pin_threads(None)
    from reelrec.index import set_faiss_threads

    set_faiss_threads(common.available_cores())
    ic = cfg.index
    rec.index_ = FaissIndex(
        f"HNSW{hnsw[0]}", ef_search=ic.ef_search, ef_construction=hnsw[1],
        model_version=rec.model_version_,
    ).build(ids, all_vectors)  # fmt: skip
    rec.video_table_ = None
    rec.save(folder / "ann")
    exact_dir = folder / "exact"
    shutil.copytree(folder / "ann", exact_dir, copy_function=os.link, ignore=_skip_index)
    rec.index_ = FaissIndex("Flat", model_version=rec.model_version_).build(ids, all_vectors)
    save_index(rec, exact_dir)
    (folder / "done.json").write_text(json.dumps({"videos": len(all_vectors)}))


def _skip_index(directory: str, names: list[str]) -> list[str]:
    return ["index"] if Path(directory).name in ("ann",) else []


def ensure_setup(size: str, n_videos: int, spread: float, hnsw: tuple[int, int]) -> Path:
    name = f"serving-{size}-{n_videos}-cov{spread:g}-hnsw{hnsw[0]}-efc{hnsw[1]}"
    folder = common.RESULTS_DIR / name
    if not (folder / "done.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        with common.stopwatch() as clock:
            build(size, n_videos, folder, spread, hnsw)
        print(f"set-up built in {clock.seconds:.1f} s → {folder}")
    return folder


def set_ef_search(run: Path, ef: int) -> None:
    """Record the served HNSW beam in the cached index manifest (the index file is unchanged)."""
    path = run / "index" / "index_manifest.json"
    manifest = json.loads(path.read_text())
    manifest["params"]["ef_search"] = ef or 1  # widen_beam raises it to ranking.candidates
    path.write_text(json.dumps(manifest, indent=2))


# --- in-process measurements ------------------------------------------------------------------
def in_process(folder: Path, n: int) -> dict[str, Any]:
    """Per-stage timings of the service pipeline for the ANN and exact runs; recall@100."""
    import numpy as np

    from reelrec.config import ServingConfig
    from reelrec.index.quality import recall_vs_exact
    from reelrec.serving.reload import load_run

    cfg = ServingConfig(budget_retrieve_ms=1e6, budget_rank_ms=1e6, budget_rules_ms=1e6)
    out: dict[str, Any] = {}
    loaded = {}
    for name in ("ann", "exact"):
        with common.stopwatch() as clock:
            loaded[name] = load_run(folder / name, cfg)
        out[f"{name}_load_s"] = clock.seconds
        paging = loaded[name].paging
        if paging is not None:  # the index moves onto huge pages in the background: measure after
            paging.join()
        rec = loaded[name].rec
        rng = np.random.default_rng(1)
        users = [rec.space_.users.ids[i] for i in rng.integers(0, rec.space_.users.n_known, n)]
        stages: dict[str, list[float]] = {s: [] for s in (*STAGES, "total")}
        degraded = 0
        for user in users:
            started = time.perf_counter()
            feed = loaded[name].pipeline.feed(user, 20, [], None, loaded[name].cold, known=True)
            stages["total"].append((time.perf_counter() - started) * 1e3)
            degraded += bool(feed.degraded or feed.fallback)
            for s in STAGES:
                stages[s].append(feed.timings.get(s, 0.0))
        out[name] = {s: (pct(v, 50), pct(v, 99)) for s, v in stages.items()}
        out[f"{name}_degraded"] = degraded
    rec, oracle = loaded["ann"].rec, loaded["exact"].rec.index_
    users = np.arange(min(1000, rec.space_.users.n_known))
    queries = rec.encode_users(users, np.full(users.shape, np.nan))
    out["recall@100"] = recall_vs_exact(rec.index_, oracle, queries, 100)
    # As served: the top 100 of the ``ranking.candidates`` search (efSearch = max(ef, k)).
    width = rec.config.ranking.candidates
    got, _ = rec.index_.search(queries, width)
    want, _ = oracle.search(queries, 100)
    hits = [len(set(g[:100].tolist()) & set(w.tolist())) for g, w in zip(got, want, strict=True)]
    out["recall@100_served"] = float(np.mean(hits) / 100)
    out["videos"] = rec.index_.size
    return out


# --- HTTP ------------------------------------------------------------------------------------
class Conn:
    """One keep-alive HTTP/1.1 connection (raw: the client must cost far less than the server)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status = int((await self.reader.readline()).split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        payload = await self.reader.readexactly(int(headers.get("content-length", 0)))
        return status, headers, payload

    def close(self) -> None:
        self.writer.close()


def server_timing(header: str) -> dict[str, float]:
    out = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur)
    return out


def ok(status: int, payload: bytes) -> bool:
    if status != 200:
        return False
    body = json.loads(payload)
    return body["fallback"] is None and not body["degraded"]


async def sequential(port: int, users: list[str]) -> dict[str, list[float]]:
    conn = await Conn.open(port)
    stages: dict[str, list[float]] = {s: [] for s in (*STAGES, "total", "e2e")}
    failures = 0
    for user in users:
        body = json.dumps({"user_id": user, "k": 20}).encode()
        started = time.perf_counter()
        status, headers, payload = await conn.post("/v1/recommend", body)
        stages["e2e"].append((time.perf_counter() - started) * 1e3)
        failures += not ok(status, payload)
        for name, ms in server_timing(headers.get("server-timing", "")).items():
            stages.setdefault(name, []).append(ms)
    conn.close()
    stages["failures"] = [float(failures)]
    return stages


async def load(port: int, users: list[str], reload_dir: Path) -> dict[str, Any]:
    """``len(users)`` feeds at concurrency 32, with a hot reload fired a third of the way in."""
    queue = iter(users)
    done = {"n": 0, "failed": 0, "reload": None}
    reload_at = len(users) // 3

    async def worker() -> None:
        conn = await Conn.open(port)
        for user in queue:
            status, _, payload = await conn.post(
                "/v1/recommend", json.dumps({"user_id": user, "k": 20}).encode()
            )
            done["n"] += 1
            done["failed"] += not ok(status, payload)
            if done["n"] == reload_at:
                marks["steady"] = time.perf_counter()
                body = json.dumps({"run_dir": str(reload_dir)}).encode()
                done["reload"] = (await conn.post("/v1/admin/reload", body))[0]
        conn.close()

    marks = {"started": time.perf_counter()}
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    seconds = time.perf_counter() - marks["started"]
    steady = marks.get("steady", time.perf_counter()) - marks["started"]
    # Feeds/s in steady state: the first third, before the reload loads a second copy of the
    # model on the same core (that third is reported with the reload included, too).
    return {"requests": done["n"], "failed": done["failed"], "seconds": seconds,
            "steady_requests": reload_at, "steady_seconds": steady,
            "reload_status": done["reload"]}  # fmt: skip


def start_server(run: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    env |= {"REELREC_SERVING__RELOAD_POLL_S": "0", "REELREC_SERVING__THREADS": "1"}
    for budget in ("RETRIEVE", "RANK", "RULES"):  # measure the whole pipeline, never skip it
        env[f"REELREC_SERVING__BUDGET_{budget}_MS"] = "1e6"
    cmd = [sys.executable, "-m", "reelrec", "serve", str(run), "--port", str(port)]
    if shutil.which("taskset") and common.available_cores() > 1:
        core = SERVER_CORE % common.available_cores()
        cmd = ["taskset", "-c", str(core), *cmd]
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 600) -> str:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            if r.status_code == 200:
                return str(r.json()["reload"])
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server not ready")


def over_http(folder: Path, plan: dict[str, Any]) -> dict[str, Any]:
    import httpx
    import numpy as np

    from reelrec.features.vocab import Vocabulary

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    features = json.loads((folder / "ann" / "features" / "features.json").read_text())
    user_ids = Vocabulary.from_json(features["users"]).ids
    rng = np.random.default_rng(2)
    pick = lambda n: [user_ids[i] for i in rng.integers(0, len(user_ids), n)]  # noqa: E731
    if common.available_cores() > 1:
        os.sched_setaffinity(0, {0})  # the client off the server core
    started = time.perf_counter()
    proc = start_server(folder / "ann", port)
    try:
        wait_ready(port, proc)
        ready_s = time.perf_counter() - started
        # Measure the steady state: after the index copy on huge pages has taken over (its
        # read and collapse share the server's core for a few seconds after start-up).
        while httpx.get(f"http://127.0.0.1:{port}/readyz").json()["index_memory"] == "moving":
            time.sleep(0.1)
        paged_s = time.perf_counter() - started
        warm_until = time.perf_counter() + plan["warm_up_s"]  # page faults; huge pages
        while time.perf_counter() < warm_until:
            asyncio.run(sequential(port, pick(50)))
        seq = asyncio.run(sequential(port, pick(plan["latency"])))
        result = asyncio.run(load(port, pick(plan["requests"]), folder / "ann"))
        deadline = time.monotonic() + 600
        while (state := httpx.get(f"http://127.0.0.1:{port}/readyz").json()["reload"]) == "loading":
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        result["reload_outcome"] = state
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"ready_s": ready_s, "paged_s": paged_s, "sequential": seq, "load": result}


def report(size: str, inproc: dict[str, Any], http: dict[str, Any]) -> int:
    print(f"\n== serving, {inproc['videos']:,} videos, one core per process ({size})")
    ann_s, exact_s = inproc["ann_load_s"], inproc["exact_load_s"]
    print(f"load run dir in-process: ANN {ann_s:.2f} s, exact {exact_s:.2f} s; "
          f"`reelrec serve` start → ready {http['ready_s']:.2f} s, index on huge pages after "
          f"{http['paged_s']:.2f} s")  # fmt: skip
    print(
        f"\n{'stage (ms)':<14}{'in-proc ANN p50/p99':>22}{'exact p50/p99':>20}{'HTTP p50/p99':>20}"
    )
    seq = http["sequential"]
    for s in (*STAGES, "total"):
        a, e = inproc["ann"][s], inproc["exact"][s]
        h = (pct(seq.get(s, []), 50), pct(seq.get(s, []), 99))
        print(
            f"{s:<14}{a[0]:>11.3f}/{a[1]:<10.3f}{e[0]:>9.3f}/{e[1]:<10.3f}{h[0]:>9.3f}/{h[1]:<10.3f}"
        )
    e2e = (pct(seq["e2e"], 50), pct(seq["e2e"], 99))
    print(f"{'HTTP e2e':<14}{'':>42}{e2e[0]:>9.3f}/{e2e[1]:<10.3f}")
    ratio = inproc["exact"]["total"][0] / inproc["ann"]["total"][0]
    load = http["load"]
    rps = load["steady_requests"] / load["steady_seconds"]
    rps_all = load["requests"] / load["seconds"]
    recall, served = inproc["recall@100"], inproc["recall@100_served"]
    print(f"\nexact / ANN pipeline p50: {ratio:.2f}×; ANN recall@100 vs exact: {recall:.4f} "
          f"(k=100 search), {served:.4f} (top 100 of the served top-500 search)")  # fmt: skip
    print(f"load: {load['requests']} feeds at concurrency {CONCURRENCY}: {rps:.0f} feeds/s in "
          f"steady state ({rps_all:.0f} over the whole run, reload included), "
          f"{load['failed']} failed; hot reload → HTTP {load['reload_status']}, "
          f"{load['reload_outcome']}; sequential failures {int(seq['failures'][0])}")  # fmt: skip
    checks = {
        "p50 ≤ 3 ms": e2e[0] <= 3.0,
        "p99 ≤ 10 ms": e2e[1] <= 10.0,
        "≥ 300 feeds/s": rps >= 300,
        "recall@100 ≥ 0.95": served >= 0.95,
        "zero failed": load["failed"] == 0 and seq["failures"][0] == 0,
        "reload swapped": load["reload_status"] == 202 and load["reload_outcome"] == "swapped",
    }
    print("targets: " + ", ".join(f"{k} {'PASS' if v else 'MISS'}" for k, v in checks.items()))
    common.record(
        "serving", size=size, videos=inproc["videos"], e2e_p50_ms=e2e[0], e2e_p99_ms=e2e[1],
        feeds_per_s=rps, feeds_per_s_with_reload=rps_all, exact_over_ann=ratio,
        recall_at_100=recall, recall_at_100_served=served,
        stages_inproc_ann=inproc["ann"], stages_inproc_exact=inproc["exact"],
        load=load, ready_s=http["ready_s"], paged_s=http["paged_s"], checks=checks,
    )  # fmt: skip
    return 0 if checks["zero failed"] and checks["reload swapped"] else 1


def main() -> int:
    p = common.parser(__doc__, default_size="tiny")
    p.add_argument("--videos", type=int, default=0, help="catalogue size (0: by --size)")
    p.add_argument("--requests", type=int, default=0, help="load-test requests (0: by --size)")
    p.add_argument(
        "--spread",
        type=float,
        default=1.0,
        help="scale of each copy's perturbation, in the real vectors' covariance (1.0: cosine "
        "≈ 0.95 to its source, as far as two related real videos)",
    )
    p.add_argument("--hnsw-m", type=int, default=32, help="HNSW graph degree")
    p.add_argument("--ef-construction", type=int, default=200, help="HNSW build beam")
    p.add_argument(
        "--ef-search", type=int, default=0, help="served HNSW beam (0: the candidates, 500)"
    )
    args = p.parse_args()
    plan = dict(PLAN[args.size])
    plan["videos"] = args.videos or plan["videos"]
    plan["requests"] = args.requests or plan["requests"]
    print(common.hardware_line())
    folder = ensure_setup(
        args.size, plan["videos"], args.spread, (args.hnsw_m, args.ef_construction)
    )
    set_ef_search(folder / "ann", args.ef_search)
    common.pin_threads(1)  # one thread everywhere, as in a serving worker
    from threadpoolctl import threadpool_limits

    from reelrec.index import set_faiss_threads

    threadpool_limits(1)
    set_faiss_threads(1)
    inproc = in_process(folder, plan["latency"])
    http = over_http(folder, plan)
    return report(args.size, inproc, http)


if __name__ == "__main__":
    sys.exit(main())
