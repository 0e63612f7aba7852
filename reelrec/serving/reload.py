"""Hot reload: load a run directory in the background and swap one reference atomically.

Every request reads ``ModelHolder.current`` once and uses that ``Loaded`` to the end, so
in-flight requests finish on the old model while new ones see the new one. A reload is
triggered by ``POST /v1/admin/reload`` or by a change of ``RUN_DIR/RELOAD`` (whose text may
name another run directory) or of the manifests, polled every ``serving.reload_poll_s``.
``Recommender.load`` checks the model/index pair (dimension, metric, model version); a
refused or broken run directory is reported and the old model keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reelrec.config import ServingConfig
from reelrec.errors import ArtifactError, ReelrecError
from reelrec.index.faiss_index import FaissIndex
from reelrec.recommender import Recommender
from reelrec.run_files import index_expectation
from reelrec.serving.fallback import ColdStart, Pipeline

log = logging.getLogger(__name__)
RELOAD_FILE = "RELOAD"
_WATCHED = (RELOAD_FILE, "manifest.json", "index/index_manifest.json")


@dataclass(slots=True, kw_only=True)
class Loaded:
    """One servable model: the recommender, its pipeline, cold-start pools and a mutation lock."""

    rec: Recommender
    run_dir: Path | None
    version: str
    pipeline: Pipeline
    cold: ColdStart
    loaded_at: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock)
    paging: threading.Thread | None = None  # moving the index onto huge pages (background)

    def refresh_cold(self, cfg: ServingConfig) -> None:
        """Rebuild the cold-start pools after the catalogue changed."""
        self.cold = ColdStart(self.rec, cfg.fallback_fresh_hours)


def widen_beam(rec: Recommender) -> None:
    """Give an HNSW index a search beam at least as wide as the candidates a feed asks for.

    faiss's HNSW keeps ``efSearch`` candidates however large ``k`` is, so with the default
    beam (128) and 500 candidates the tail of the list is poor: measured on the tiny world,
    recall@100 of the served top-500 was 0.93 at efSearch 128 and 0.998 at 500.
    """
    index = rec.index_
    width = rec.config.ranking.candidates
    if getattr(index, "family", None) == "hnsw" and getattr(index, "ef_search", width) < width:
        log.info("HNSW efSearch below %s candidates; serving with efSearch %s", width, width)
        index.ef_search = width  # type: ignore[attr-defined]


def prepare(rec: Recommender, run_dir: Path | None, cfg: ServingConfig) -> Loaded:
    """Make a fitted recommender servable: NumPy towers, search beam, pools, a warm-up feed."""
    rec.use_numpy_towers()
    widen_beam(rec)
    loaded = Loaded(
        rec=rec,
        run_dir=run_dir,
        version=str(rec.model_version_),
        pipeline=Pipeline(rec, cfg),
        cold=ColdStart(rec, cfg.fallback_fresh_hours),
    )
    if rec.space_.users.n_known:  # first-call costs (lazy imports, page faults) off the clock
        loaded.pipeline.feed(rec.space_.users.ids[0], 5, [], None, loaded.cold, known=True)
        loaded.pipeline.breaker.reset()  # a slow first call must not count against a stage
    if cfg.huge_pages and isinstance(rec.index_, FaissIndex):  # seconds at 1M: in the background
        loaded.paging = threading.Thread(target=to_huge_pages, args=(loaded,), daemon=True)
        loaded.paging.start()
    return loaded


def to_huge_pages(loaded: Loaded) -> bool:
    """Serve the index from memory on huge pages (``serving.huge_pages``, ADR-0009).

    The service starts on the memory-mapped index (ready in seconds); this reads a second copy
    into memory, collapses it onto 2 MiB pages, and swaps it in under the mutation lock, unless
    videos were added meanwhile (then the mapped index keeps serving). True when swapped or
    collapsed in place.
    """
    rec, started = loaded.rec, time.perf_counter()
    index = rec.index_
    if not isinstance(index, FaissIndex):
        return False
    copy = index
    if index.mapped:
        if loaded.run_dir is None:
            return False
        try:
            copy = FaissIndex.load(loaded.run_dir / "index", index_expectation(rec), mmap=False)
        except ReelrecError as e:
            log.warning("index not moved onto huge pages: %s", e)
            return False
        copy.ef_search, copy.nprobe = index.ef_search, index.nprobe
    done = copy.huge_pages()
    if copy is not index:
        with loaded.lock:
            if rec.index_ is not index or index.size != copy.size:
                log.info("index changed while loading its huge-page copy; keeping the mapped one")
                return False
            rec.index_ = copy
    log.info("index on huge pages: %d MiB in %.1f s", done >> 20, time.perf_counter() - started)
    return True


def load_run(run_dir: Path, cfg: ServingConfig) -> Loaded:
    """Load and prepare ``run_dir``.

    Raises:
        ArtifactError: missing, partial or version-incompatible run directory.
        IndexStateError: the index was built by another model (incompatible pair).
    """
    if not (run_dir / "manifest.json").is_file():
        raise ArtifactError(f"{run_dir}: no manifest.json; not a complete run directory")
    return prepare(Recommender.load(run_dir), run_dir, cfg)


@dataclass(slots=True, kw_only=True)
class ReloadStatus:
    """The last reload's outcome."""

    state: str = "idle"  # idle | loading | swapped | refused
    run_dir: str | None = None
    message: str = ""
    finished_at: float | None = None


class ModelHolder:
    """The one reference to the served model, and the reloads that replace it."""

    def __init__(self, cfg: ServingConfig, on_swap: Callable[[Loaded], None] | None = None) -> None:
        self.cfg = cfg
        self.current: Loaded | None = None
        self.status = ReloadStatus()
        self._on_swap = on_swap
        self._reloading = threading.Lock()
        self._stop = threading.Event()
        self._stamps: dict[str, float] = {}

    @property
    def ready(self) -> bool:
        """Whether a model is loaded."""
        return self.current is not None

    def swap(self, loaded: Loaded) -> None:
        """Make ``loaded`` the served model (one reference assignment)."""
        old = self.current
        if old is not None:
            with old.lock:  # let a running mutation finish on the old model first
                self.current = loaded
        else:
            self.current = loaded
        if self._on_swap is not None:
            self._on_swap(loaded)

    def reload(self, run_dir: Path | None = None) -> ReloadStatus:
        """Load ``run_dir`` (default: the served one) and swap; refuse and keep the old on error.

        Returns the outcome; concurrent calls wait for the running one and then run.
        """
        with self._reloading:
            target = run_dir or (self.current.run_dir if self.current else None)
            if target is None:
                self.status = ReloadStatus(state="refused", message="no run directory to reload")
                return self.status
            self.status = ReloadStatus(state="loading", run_dir=str(target))
            try:
                loaded = load_run(Path(target), self.cfg)
            except (ReelrecError, OSError) as e:
                log.error("reload of %s refused: %s", target, e)
                self.status = ReloadStatus(
                    state="refused", run_dir=str(target), message=str(e), finished_at=time.time()
                )
                return self.status
            self.swap(loaded)
            self.status = ReloadStatus(
                state="swapped",
                run_dir=str(target),
                message=f"serving model {loaded.version}",
                finished_at=time.time(),
            )
            self._stamps = self._read_stamps(Path(target))
            return self.status

    def reload_in_background(self, run_dir: Path | None = None) -> threading.Thread:
        """Start ``reload`` in a daemon thread."""
        thread = threading.Thread(target=self.reload, args=(run_dir,), daemon=True, name="reload")
        thread.start()
        return thread

    # --- file watching -------------------------------------------------------------------
    @staticmethod
    def _read_stamps(run_dir: Path) -> dict[str, float]:
        stamps = {}
        for name in _WATCHED:
            path = run_dir / name
            if path.is_file():
                stamps[name] = path.stat().st_mtime
        return stamps

    def check_files(self) -> bool:
        """Reload when ``RELOAD`` or a manifest changed since the last load; True if it did."""
        current = self.current
        if current is None or current.run_dir is None:
            return False
        stamps = self._read_stamps(current.run_dir)
        if not self._stamps:
            self._stamps = stamps
            return False
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        target = current.run_dir
        request = current.run_dir / RELOAD_FILE
        if RELOAD_FILE in stamps:
            text = request.read_text(encoding="utf-8").strip()
            if text:
                named = Path(text)
                target = named if named.is_absolute() else current.run_dir / named
        self.reload(target)
        return True

    def watch(self) -> threading.Thread | None:
        """Poll the run directory every ``reload_poll_s`` seconds in a daemon thread."""
        if self.cfg.reload_poll_s <= 0:
            return None

        def loop() -> None:
            while not self._stop.wait(self.cfg.reload_poll_s):
                try:
                    self.check_files()
                except OSError as e:  # a file vanished between stat and read: next poll
                    log.warning("reload watcher: %s", e)

        thread = threading.Thread(target=loop, daemon=True, name="reload-watch")
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop the watcher."""
        self._stop.set()
