"""Run directories of a fitted Recommender: what is written where, and the checks on load.

Layout: ``config.toml``, ``model.safetensors``, ``model.json``, ``features/`` (vocabularies,
encoded catalogue, user attributes), ``log.npz`` (histories), ``seen.npz``, ``training.json``,
``index/`` (from ``reelrec index``), ``rules/`` (the rules' video table, written with the
index), ``ranking/`` (the ranker, when enabled), and ``manifest.json``, written last. Catalogue
and rules table are one ``.npy`` per field, memory-mapped on load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from safetensors.torch import load_file, save_file

from reelrec.artifacts import (
    atomic_write_json,
    atomic_write_text,
    read_manifest,
    staged_dir,
    write_manifest,
)
from reelrec.config import config_from_dict, dump_config
from reelrec.errors import ArtifactError
from reelrec.features.definitions import FeatureSpace, VideoArrays
from reelrec.features.history import InteractionLog
from reelrec.features.live import save_live
from reelrec.index.factory import load_index
from reelrec.models.two_tower import TwoTower

if TYPE_CHECKING:
    from reelrec.recommender import Recommender
    from reelrec.rules.base import VideoTable

FORMAT_VERSION = 1
_LOG_FIELDS = ("h_user", "h_video", "h_time", "h_dwell", "h_liked", "user_start", "user_end")


def index_expectation(rec: Recommender) -> dict[str, Any]:
    """What an index must match to serve this model's query vectors."""
    return {
        "dim": rec.config.model.dim,
        "metric": "ip",
        "normalised": True,
        "model_version": rec.model_version_,
    }


def save_recommender(rec: Recommender, run_dir: Path, *, data_dir: str | None) -> Path:
    """Write everything but the index, then the index if built, then the manifest."""
    (run_dir / "manifest.json").unlink(missing_ok=True)
    with staged_dir(run_dir) as tmp:
        atomic_write_text(tmp / "config.toml", dump_config(rec.config))
        save_file(rec.model_.state_dict(), str(tmp / "model.safetensors"))
        atomic_write_json(
            tmp / "model.json", {"sizes": rec.model_.sizes, "version": rec.model_version_}
        )
        features = tmp / "features"
        features.mkdir()
        rec.space_.save(features)
        rec.catalog_.save(features / "catalog")
        np.save(features / "user_attrs.npy", rec.user_attrs_)
        np.savez(
            tmp / "log.npz",
            has_time=rec.log_.has_time,
            **{k: getattr(rec.log_, k) for k in _LOG_FIELDS},
        )
        sp.save_npz(tmp / "seen.npz", rec.seen_)
        np.save(tmp / "popularity.npy", rec.popularity_)
        atomic_write_json(tmp / "training.json", rec.history_.to_json())
    if hasattr(rec, "index_"):
        save_index(rec, run_dir)
    if hasattr(rec, "store_"):
        save_live(rec, run_dir)
    save_ranker(rec, run_dir)
    write_manifest(
        run_dir,
        format_version=FORMAT_VERSION,
        model_version=rec.model_version_,
        dim=rec.config.model.dim,
        data_dir=data_dir,
        seed=rec.config.train.seed,
    )
    return run_dir


def catalog_path(run_dir: Path) -> Path:
    """The catalogue of a run: ``features/catalog/`` (``.npy`` per field), or the ``.npz`` file
    of runs written before 0.2."""
    folder = run_dir / "features" / "catalog"
    old = run_dir / "features" / "catalog.npz"
    return old if old.is_file() and not folder.is_dir() else folder


def save_catalog(rec: Recommender, run_dir: Path) -> None:
    """Rewrite the run's catalogue (e.g. after new videos were ingested)."""
    with staged_dir(run_dir / "features" / "catalog") as tmp:
        rec.catalog_.save(tmp)
    (run_dir / "features" / "catalog.npz").unlink(missing_ok=True)


def save_index(rec: Recommender, run_dir: Path) -> None:
    """Write the index into ``run_dir/index`` atomically (replacing an older one), then the
    rules' video table built from it (``rules/``), so serving starts without rebuilding it."""
    with staged_dir(run_dir / "index") as tmp:
        rec.index_.save(tmp)
    with staged_dir(run_dir / "rules") as tmp:
        rec.video_table().save(tmp)


def save_ranker(rec: Recommender, run_dir: Path) -> None:
    """Write the ranker into ``run_dir/ranking`` atomically (removed when there is none)."""
    if rec.ranker_ is None:
        if (run_dir / "ranking").is_dir():
            import shutil

            shutil.rmtree(run_dir / "ranking")
        return
    with staged_dir(run_dir / "ranking") as tmp:
        rec.ranker_.save(tmp)


def _empty_log_examples() -> dict[str, np.ndarray]:
    empty_i = np.empty(0, dtype=np.int64)
    return {
        "ex_user": empty_i,
        "ex_video": empty_i,
        "ex_time": np.empty(0),
        "ex_weight": np.empty(0, np.float32),
        "ex_hist_end": empty_i,
    }


def load_recommender(
    cls: type[Recommender], run_dir: Path, *, with_index: bool, map_index: bool = True
) -> Recommender:
    """Rebuild a Recommender from ``run_dir`` (``map_index``: see ``load_index``'s ``mmap``)."""
    manifest = read_manifest(run_dir)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{run_dir}: run format {manifest.get('format_version')} is not {FORMAT_VERSION}; "
            "retrain with this reelrec version"
        )
    import tomllib

    try:
        config = config_from_dict(tomllib.loads((run_dir / "config.toml").read_text("utf-8")))
        model_meta = json.loads((run_dir / "model.json").read_text("utf-8"))
        rec = cls(config)
        rec.space_ = FeatureSpace.load(run_dir / "features")
        rec.catalog_ = VideoArrays.load(catalog_path(run_dir))
        rec.user_attrs_ = np.load(run_dir / "features" / "user_attrs.npy")
        with np.load(run_dir / "log.npz") as data:
            fields = {k: data[k] for k in _LOG_FIELDS}
            rec.log_ = InteractionLog(
                has_time=bool(data["has_time"]), **fields, **_empty_log_examples()
            )
        rec.seen_ = sp.load_npz(run_dir / "seen.npz").tocsr()
        rec.popularity_ = np.load(run_dir / "popularity.npy")
        model = TwoTower(config.model, model_meta["sizes"], sparse=config.train.sparse_embeddings)
        model.load_state_dict(load_file(str(run_dir / "model.safetensors")))
    except (OSError, ValueError, KeyError) as e:
        raise ArtifactError(f"{run_dir}: incomplete or corrupt run directory ({e}); retrain") from e
    model.eval()
    rec.model_ = model
    rec.model_version_ = model_meta["version"]
    from reelrec.training.loop import History

    rec.history_ = History(**json.loads((run_dir / "training.json").read_text("utf-8")))
    if (run_dir / "ranking").is_dir():
        from reelrec.ranking.ranker import Ranker

        rec.ranker_ = Ranker.load(run_dir / "ranking")
    if with_index:
        if not (run_dir / "index").is_dir():
            raise ArtifactError(f"{run_dir}: no index yet; run `reelrec index {run_dir}` first")
        rec.index_ = load_index(run_dir / "index", expect=index_expectation(rec), mmap=map_index)
        rec.video_table_ = _load_video_table(run_dir, len(rec.catalog_))
    rec.init_live_state(run_dir)
    return rec


def _load_video_table(run_dir: Path, n_videos: int) -> VideoTable | None:
    """The saved rules table when it matches the catalogue (else None: rebuilt on first use)."""
    from reelrec.rules.base import VideoTable

    if not (run_dir / "rules").is_dir():
        return None
    table = VideoTable.load(run_dir / "rules")
    return table if len(table) <= n_videos else None


__all__ = [
    "catalog_path",
    "index_expectation",
    "load_recommender",
    "save_catalog",
    "save_index",
    "save_ranker",
    "save_recommender",
]
