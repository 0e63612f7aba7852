"""MicroLens (Westlake University, 50K / 100K / 1M) → reelrec's schema.

* interactions, from the first file matching ``*pairs*.csv`` (else ``*pairs*.tsv``, ``.gz``
  allowed), in either published layout:

  - ``user,item,timestamp`` (header optional, any names; comma, or TAB in a ``.tsv``):
    timestamp in seconds, milliseconds or microseconds, detected from the largest value;
  - the sequence layout of ``MicroLens-*_pairs.tsv``: ``user<TAB>item item item…`` in
    chronological order, no timestamps → no timestamp column (the order is kept row by row).

  MicroLens logs only that a user engaged with a video: watch/video seconds null, flags False.
* videos: ``*titles*.csv`` / ``*title*.csv`` (``item,title``, header optional, quoted CSV) →
  title; no tags, creators or durations. Without a titles file videos are derived (ids only).
* users: derived from the interactions (MicroLens has no user features).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reelrec.data.public_common import (
    as_float,
    assemble,
    convert,
    find_first,
    first_line,
    no_durations,
    no_engagement,
    read_text,
    require_dir,
    with_gz,
)
from reelrec.data.readers import Dataset
from reelrec.data.schema import INTERACTIONS, VIDEOS, validate
from reelrec.errors import DataError

_PAIRS = with_gz("*pairs*.csv", "*pairs*.tsv")
_TITLES = with_gz("*titles*.csv", "*title*.csv")
_HEADER_NAMES = {"user", "userid", "user_id", "item", "itemid", "item_id", "videoid", "video_id"}


def load_microlens(src: Path) -> Dataset:
    """Load MicroLens from a folder holding a pairs file and (optionally) a titles file.

    Raises:
        DataError: no pairs file, or a malformed row (file, row and column named).
    """
    folder = require_dir(src, "MicroLens")
    pairs = find_first(folder, _PAIRS)
    if pairs is None:
        raise DataError(f"{folder}: no MicroLens pairs file found (looked for {', '.join(_PAIRS)})")
    titles = find_first(folder, _TITLES)
    return assemble(_pairs(pairs), _titles(titles) if titles else None, None)


def _has_header(path: Path, separator: str) -> bool:
    """Whether the first line is a header: its first cell names a user or item column."""
    head = first_line(path).split(separator, 1)[0].strip().strip('"').lower()
    return head in _HEADER_NAMES


def _pairs(path: Path) -> pl.DataFrame:
    sep = "\t" if ".tsv" in path.name else ","
    raw = read_text(path, separator=sep, header=_has_header(path, sep), quoted=sep == ",")
    if raw.width == 2 and sep == "\t":
        return _sequences(raw.rename(dict(zip(raw.columns, ("u", "seq"), strict=True))), path)
    if raw.width < 3:
        raise DataError(f"{path.name}: expected columns user,item,timestamp; got {raw.columns}")
    raw = raw.rename(dict(zip(raw.columns[:3], ("u", "i", "ts"), strict=True)))
    raw = convert(raw, path.name, {"ts": (as_float, "a Unix timestamp (a number)")})
    scale = _seconds_scale(raw["ts"])
    frame = raw.select(
        pl.col("u").alias("user_id"),
        pl.col("i").alias("video_id"),
        (pl.col("ts") / scale).alias("timestamp"),
        *no_durations(),
        *no_engagement(),
    )
    return validate(frame, INTERACTIONS, path.name)


def _seconds_scale(ts: pl.Series) -> float:
    """Divisor to seconds: epoch values ≥ 1e14 are microseconds, ≥ 1e11 milliseconds."""
    largest = ts.abs().max()
    if not isinstance(largest, int | float):
        return 1.0
    return 1e6 if largest >= 1e14 else 1e3 if largest >= 1e11 else 1.0


def _sequences(raw: pl.DataFrame, path: Path) -> pl.DataFrame:
    items = pl.col("seq").fill_null("").str.strip_chars().str.split(" ")
    frame = (
        raw.select(pl.col("u").alias("user_id"), items.alias("video_id"))
        .explode("video_id")
        .filter(pl.col("video_id") != "")
        .with_columns(*no_durations(), *no_engagement())
    )
    return validate(frame, INTERACTIONS, path.name)


def _titles(path: Path) -> pl.DataFrame:
    raw = read_text(path, header=_has_header(path, ","))
    if raw.width != 2:
        raise DataError(f"{path.name}: expected 2 columns item,title; got {raw.columns}")
    frame = raw.rename(dict(zip(raw.columns, ("video_id", "title"), strict=True))).with_columns(
        pl.lit(None, pl.Utf8).alias("creator_id"),
        pl.lit([], pl.List(pl.Utf8)).alias("tags"),
        pl.lit(None, pl.Float64).alias("duration_seconds"),
        pl.lit(None, pl.Utf8).alias("upload_timestamp"),
    )
    return validate(frame, VIDEOS, path.name)
