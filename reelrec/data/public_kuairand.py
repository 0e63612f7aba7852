"""KuaiRand (Kuaishou, CIKM 2022; Pure, 1K or 27K) → reelrec's schema.

* interactions: ``log_standard_*.csv`` (plus ``log_random_*.csv`` with ``include_random``), one
  row per impression: timestamp = ``time_ms`` / 1000 (epoch), watch_seconds = ``play_time_ms`` /
  1000 (0 for an impression without a click when play time is missing), video_seconds =
  ``duration_ms`` / 1000 (zero → null), liked = ``is_like``, shared = ``is_forward``, commented =
  ``is_comment``, followed = ``is_follow``. Click, hate, long-view, stay times and tab are dropped.
* videos: ``video_features_basic*.csv``: author_id → creator_id, upload_dt → upload_timestamp,
  video_duration (ms) → duration_seconds, ``tag`` ("39,68") → tags ``tag39``, ``tag68``.
  video_type / upload_type / music are not tags (they describe format, not content, and would
  swamp tag-diversity rules).
* users: ``user_features*.csv``, ids only: activity degree, counts, register days and anonymised
  one-hot features have no equivalent in the users schema.

Every file may also be gzipped (``.csv.gz``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reelrec.data.public_common import (
    as_float,
    assemble,
    convert,
    find_all,
    find_first,
    read_text,
    require_columns,
    require_dir,
    with_gz,
)
from reelrec.data.readers import Dataset
from reelrec.data.schema import INTERACTIONS, USERS, VIDEOS, validate
from reelrec.errors import DataError

_STANDARD = with_gz("log_standard_*.csv")
_RANDOM = with_gz("log_random_*.csv")
_VIDEOS = with_gz("video_features_basic*.csv")
_USERS = with_gz("user_features*.csv")
_LOG_COLUMNS = (
    "user_id", "video_id", "time_ms", "is_like", "is_follow", "is_comment", "is_forward",
    "play_time_ms", "duration_ms",
)  # fmt: skip


def load_kuairand(src: Path, *, include_random: bool = False) -> Dataset:
    """Load KuaiRand from a folder holding its logs and (optionally) feature files.

    Args:
        src: the folder (e.g. ``KuaiRand-Pure/data``).
        include_random: also load the randomly-exposed logs (``log_random_*``).

    Raises:
        DataError: no log file, or a malformed row (file, row and column named).
    """
    folder = require_dir(src, "KuaiRand")
    patterns = _STANDARD + (_RANDOM if include_random else ())
    logs = find_all(folder, patterns)
    if not logs:
        hint = ""
        if find_all(folder, _RANDOM):
            hint = "; only random-exposure logs are present: pass include_random=True"
        raise DataError(f"{folder}: no KuaiRand log found (looked for {', '.join(patterns)}){hint}")
    interactions = pl.concat([_log(path) for path in logs])
    return assemble(interactions, _videos(folder), _users(folder))


def _log(path: Path) -> pl.DataFrame:
    raw = read_text(path)
    require_columns(raw, _LOG_COLUMNS, path.name)
    numbers = ("time_ms", "play_time_ms", "duration_ms")
    raw = convert(raw, path.name, dict.fromkeys(numbers, (as_float, "a number of milliseconds")))
    watch = pl.col("play_time_ms") / 1000
    if "is_click" in raw.columns:
        unclicked = pl.col("play_time_ms").is_null() & (pl.col("is_click").str.strip_chars() == "0")
        watch = pl.when(unclicked).then(0.0).otherwise(watch)
    duration = pl.col("duration_ms")
    frame = raw.select(
        "user_id",
        "video_id",
        (pl.col("time_ms") / 1000).alias("timestamp"),
        watch.alias("watch_seconds"),
        pl.when(duration != 0).then(duration / 1000).alias("video_seconds"),
        pl.col("is_like").alias("liked"),
        pl.col("is_forward").alias("shared"),
        pl.col("is_comment").alias("commented"),
        pl.col("is_follow").alias("followed"),
    )
    return validate(frame, INTERACTIONS, path.name)


def _videos(folder: Path) -> pl.DataFrame | None:
    path = find_first(folder, _VIDEOS)
    if path is None:
        return None
    raw = read_text(path)
    require_columns(raw, ("video_id", "author_id", "upload_dt", "video_duration", "tag"), path.name)
    raw = convert(raw, path.name, {"video_duration": (as_float, "a duration in ms")})
    tags = pl.col("tag").fill_null("").str.split(",").list.eval(pl.element().str.strip_chars())
    duration = pl.col("video_duration")
    frame = raw.select(
        "video_id",
        pl.col("author_id").alias("creator_id"),
        tags.list.filter(pl.element() != "").list.eval(pl.lit("tag") + pl.element()).alias("tags"),
        pl.when(duration != 0).then(duration / 1000).alias("duration_seconds"),
        pl.col("upload_dt").alias("upload_timestamp"),
        pl.lit(None, pl.Utf8).alias("title"),
    )
    return validate(frame, VIDEOS, path.name)


def _users(folder: Path) -> pl.DataFrame | None:
    path = find_first(folder, _USERS)
    if path is None:
        return None
    raw = read_text(path)
    require_columns(raw, ("user_id",), path.name)
    return validate(raw.select("user_id"), USERS, path.name)
