"""KuaiRec (Kuaishou, CIKM 2022) → reelrec's schema.

Two layouts, detected by the files present:

* the official release: ``big_matrix.csv`` (else ``small_matrix.csv``; the first-1000-row sample
  ``big_matrix_1000.csv`` works too; point ``src`` at a matrix file to choose one) with
  ``user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio``:
  watch_seconds = play_duration / 1000, video_seconds = video_duration / 1000 (a zero duration →
  null), timestamp from the epoch-seconds ``timestamp``, else ``time`` (Beijing local time).
  Rows with neither are dropped (there is no time to order them by). ``watch_ratio`` is not
  copied: it is play / video duration, which the two seconds columns already give.
* the ``random.txt`` subsample (no header: ``user_id,video_id,watch_ratio``): interactions keep
  ``watch_ratio`` and have no timestamp column and no durations.

Side files, optional in both layouts (``*`` allows the ``_sample``/``_raw_sample`` names):

* ``item_categories*.csv`` (``video_id,feat`` with ``feat`` like ``"[8, 12]"``) → tags
  ``cat8``, ``cat12``;
* ``item_daily_features*.csv`` (one row per video and day; the first non-null value per video is
  used): author_id → creator_id, upload_dt → upload_timestamp, video_duration (ms) →
  duration_seconds, video_tag_id (> 0) → tag ``tag<id>``. ``video_tag_name`` is skipped: in the
  public files it is mojibake (UTF-8 read as GBK, partly lossy), and ``video_tag_id`` carries the
  same information cleanly.
* ``user_features*.csv`` → users, ids only: its columns (activity degree, follower counts,
  register days, anonymised one-hot features) have no equivalent in the users schema.

Engagement flags are False (KuaiRec logs only watch time). Files start with a UTF-8 BOM; it is
stripped.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reelrec.data.public_common import (
    as_date,
    as_float,
    assemble,
    convert,
    find_first,
    no_durations,
    no_engagement,
    read_text,
    require_columns,
    require_dir,
    with_gz,
)
from reelrec.data.readers import Dataset
from reelrec.data.schema import INTERACTIONS, USERS, VIDEOS, validate
from reelrec.errors import DataError

_MATRICES = with_gz("big_matrix*.csv", "small_matrix*.csv")
_RANDOM = with_gz("random.txt")
_CATEGORIES = with_gz("item_categories*.csv")
_DAILY = with_gz("item_daily_features*.csv")
_USERS = with_gz("user_features*.csv")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S%.f"


def load_kuairec(src: Path) -> Dataset:
    """Load KuaiRec from a folder (or from one interactions file inside it).

    Raises:
        DataError: no interactions file, or a malformed row (file, row and column named).
    """
    folder = src.parent if src.is_file() else require_dir(src, "KuaiRec")
    log = src if src.is_file() else find_first(folder, _MATRICES) or find_first(folder, _RANDOM)
    if log is None:
        looked = ", ".join(_MATRICES + _RANDOM)
        raise DataError(f"{folder}: no KuaiRec interactions file found (looked for {looked})")
    interactions = _random(log) if log.name.startswith("random") else _matrix(log)
    return assemble(interactions, _videos(folder), _users(folder))


def _timestamp(columns: list[str]) -> pl.Expr:
    """UTC time from epoch-seconds ``timestamp``, else from ``time`` (Beijing local time)."""
    timestamp = pl.lit(None, pl.Datetime("us", "UTC"))
    if "timestamp" in columns:
        micros = (pl.col("timestamp").fill_nan(None) * 1e6).round().cast(pl.Int64)
        timestamp = pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    if "time" in columns:
        text = pl.col("time").str.strip_chars()
        local = text.str.to_datetime(_TIME_FORMAT, time_zone="Asia/Shanghai", strict=False)
        timestamp = timestamp.fill_null(local.dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    return timestamp.alias("timestamp")


def _matrix(path: Path) -> pl.DataFrame:
    raw = read_text(path)
    require_columns(raw, ("user_id", "video_id", "play_duration", "video_duration"), path.name)
    if "timestamp" not in raw.columns and "time" not in raw.columns:
        raise DataError(f"{path.name}: missing column 'timestamp' (or 'time')")
    numbers = [c for c in ("play_duration", "video_duration", "timestamp") if c in raw.columns]
    raw = convert(raw, path.name, dict.fromkeys(numbers, (as_float, "a number")))
    duration = pl.col("video_duration")
    frame = raw.select(
        "user_id",
        "video_id",
        _timestamp(raw.columns),
        (pl.col("play_duration") / 1000).alias("watch_seconds"),
        pl.when(duration != 0).then(duration / 1000).alias("video_seconds"),
        *no_engagement(),
    )
    return validate(frame.filter(pl.col("timestamp").is_not_null()), INTERACTIONS, path.name)


def _random(path: Path) -> pl.DataFrame:
    raw = read_text(path, names=["user_id", "video_id", "watch_ratio"], quoted=False)
    if raw.width != 3:
        raise DataError(f"{path.name}: expected 3 columns user_id,video_id,watch_ratio")
    frame = raw.with_columns(*no_durations(), *no_engagement())
    return validate(frame, INTERACTIONS, path.name)


def _categories(path: Path) -> pl.DataFrame:
    raw = read_text(path)
    require_columns(raw, ("video_id", "feat"), path.name)
    ids = pl.col("feat").str.strip_chars("[] ").str.split(",")
    ids = ids.list.eval(pl.element().str.strip_chars()).list.filter(pl.element() != "")
    raw = raw.with_columns(ids.alias("feat"))
    bad = raw["feat"].list.eval(~pl.element().str.contains(r"^\d+$")).list.any().arg_true()
    if bad.len():
        row = int(bad[0])
        raise DataError(
            f"{path.name} row {row + 1}: column 'feat' expected a list of category ids like "
            f"'[8, 12]'; got {raw['feat'][row].to_list()!r}"
        )
    return raw.select("video_id", pl.col("feat").list.eval(pl.lit("cat") + pl.element()))


def _daily(path: Path) -> pl.DataFrame:
    raw = read_text(path)
    columns = ("video_id", "author_id", "upload_dt", "video_duration", "video_tag_id")
    require_columns(raw, columns, path.name)
    raw = convert(
        raw,
        path.name,
        {
            "video_duration": (as_float, "a duration in ms"),
            "upload_dt": (as_date, "a date YYYY-MM-DD"),
            "video_tag_id": (as_float, "a tag id (a number)"),
        },
    )
    first = raw.group_by("video_id", maintain_order=True).agg(
        pl.col(c).drop_nulls().first() for c in columns[1:]
    )
    tag, duration = pl.col("video_tag_id"), pl.col("video_duration")
    fine = pl.when(tag > 0).then(pl.concat_list(pl.lit("tag") + tag.cast(pl.Int64).cast(pl.Utf8)))
    return first.select(
        "video_id",
        pl.col("author_id").alias("creator_id"),
        pl.col("upload_dt").alias("upload_timestamp"),
        pl.when(duration > 0).then(duration / 1000).alias("duration_seconds"),
        fine.alias("fine"),
    )


def _videos(folder: Path) -> pl.DataFrame | None:
    paths = (find_first(folder, _CATEGORIES), find_first(folder, _DAILY))
    if paths == (None, None):
        return None
    cats_path, daily_path = paths
    cats = _categories(cats_path) if cats_path else pl.DataFrame(schema={"video_id": pl.Utf8})
    daily = _daily(daily_path) if daily_path else pl.DataFrame(schema={"video_id": pl.Utf8})
    joined = cats.join(daily, on="video_id", how="full", coalesce=True, maintain_order="left_right")
    empty = pl.lit([], pl.List(pl.Utf8))
    parts = [pl.col(c).fill_null(empty) for c in ("feat", "fine") if c in joined.columns]
    absent = [c for c in ("creator_id", "upload_timestamp", "duration_seconds") if c not in joined]
    frame = joined.with_columns(
        pl.concat_list(*parts).alias("tags") if parts else empty.alias("tags"),
        *[pl.lit(None, pl.Utf8).alias(c) for c in absent],
        pl.lit(None, pl.Utf8).alias("title"),
    )
    source = " + ".join(p.name for p in paths if p is not None)
    return validate(frame, VIDEOS, source)


def _users(folder: Path) -> pl.DataFrame | None:
    path = find_first(folder, _USERS)
    if path is None:
        return None
    raw = read_text(path)
    require_columns(raw, ("user_id",), path.name)
    return validate(raw.select("user_id"), USERS, path.name)
