"""Summary statistics of a data folder: counts, time range, positives, per-column summary."""

from __future__ import annotations

from typing import Any

import polars as pl

from reelrec.config import DataConfig
from reelrec.data.readers import Dataset
from reelrec.data.signals import positive_expr


def _column_summary(series: pl.Series) -> dict[str, Any]:
    summary: dict[str, Any] = {"dtype": str(series.dtype), "nulls": series.null_count()}
    dtype = series.dtype
    if dtype == pl.Boolean:
        summary["true_share"] = float(series.mean() or 0.0)  # type: ignore[arg-type]
    elif dtype.is_numeric():
        valid = series.drop_nulls()
        if valid.len():
            summary |= {
                "min": float(valid.min()),  # type: ignore[arg-type]
                "mean": float(valid.mean()),  # type: ignore[arg-type]
                "max": float(valid.max()),  # type: ignore[arg-type]
            }
    elif isinstance(dtype, pl.Datetime):
        valid = series.drop_nulls()
        if valid.len():
            summary |= {"min": str(valid.min()), "max": str(valid.max())}
    elif dtype == pl.Utf8:
        summary["distinct"] = series.n_unique()
    elif isinstance(dtype, pl.List):
        summary["mean_length"] = float(series.list.len().mean() or 0.0)  # type: ignore[arg-type]
    return summary


def dataset_stats(ds: Dataset, cfg: DataConfig | None = None) -> dict[str, Any]:
    """Counts, time range, positives and a per-column summary of a dataset.

    ``users`` and ``videos`` count distinct ids in the interactions; ``catalog_users`` and
    ``catalog_videos`` count the rows of the users and videos tables.
    """
    cfg = cfg or DataConfig()
    inter = ds.interactions
    n_users = inter.get_column("user_id").n_unique()
    n_videos = inter.get_column("video_id").n_unique()
    positives = int(inter.select(positive_expr(inter.columns, cfg).sum()).item() or 0)
    stats: dict[str, Any] = {
        "interactions": inter.height,
        "users": n_users,
        "videos": n_videos,
        "catalog_users": ds.users.height,
        "catalog_videos": ds.videos.height,
        "positives": positives,
        "positive_rate": positives / inter.height if inter.height else 0.0,
        "density": inter.height / (n_users * n_videos) if n_users and n_videos else 0.0,
        "time_start": None,
        "time_end": None,
    }
    if ds.has_time and inter.height:
        stats["time_start"] = str(inter.get_column("timestamp").min())
        stats["time_end"] = str(inter.get_column("timestamp").max())
    stats["columns"] = {
        "interactions": {c: _column_summary(inter.get_column(c)) for c in inter.columns},
        "videos": {c: _column_summary(ds.videos.get_column(c)) for c in ds.videos.columns},
        "users": {c: _column_summary(ds.users.get_column(c)) for c in ds.users.columns},
    }
    return stats
