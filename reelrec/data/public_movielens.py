"""MovieLens 100K and 1M (GroupLens) → reelrec's schema.

Mapping (both sizes):

* interactions: user, movie, ``rating`` (kept), ``timestamp`` from the Unix seconds when the file
  has them (the rebuilt ML-1M ``ratings_no_timestamp.csv.gz`` has none: no timestamp column);
  watch/video seconds null, engagement flags False.
* videos: every movie of the item file; ``tags`` = genre names (ML-100K's "unknown" genre is
  dropped); ``title`` as written (latin-1 decoded); ``upload_timestamp`` = ML-100K release date,
  else 1 January of the year in the title; no creator or duration.
* users: every user of the user file; ``age_bucket`` in ML-1M's buckets ("<18", "18-24",
  "25-34", "35-44", "45-49", "50-55", "56+"; ML-100K's exact ages are bucketed the same way);
  ``gender`` "M"/"F"; ``region`` = "zip" + the zip code's first character (US national area 0–9,
  or the letter of a non-US postal code, e.g. "zipT"). Occupation has no schema column and is
  dropped.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reelrec.data.public_common import (
    apply_min_rating,
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

GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_AGE_BUCKETS = (  # (exclusive upper bound in years, label): ML-1M's buckets
    (18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55"),
    (float("inf"), "56+"),
)  # fmt: skip
_RATINGS_100K = with_gz("u.data")
_RATINGS_1M = with_gz("ratings.dat", "ratings_no_timestamp.csv")
_YEAR = r"\((\d{4})\)\s*$"


def load_movielens(src: Path, min_rating: float | None = None) -> Dataset:
    """Load MovieLens 100K (``u.data``, ``u.item``, ``u.user``) or 1M (``ratings.dat`` or
    ``ratings_no_timestamp.csv.gz``, ``movies.dat``, ``users.dat``) from a folder.

    Args:
        src: the folder (e.g. ``ml-100k/``); the size is detected from the files present.
        min_rating: keep only ratings ≥ this value.

    Raises:
        DataError: no ratings file, or a malformed row (file, row and column named).
    """
    folder = require_dir(src, "MovieLens")
    if (ratings := find_first(folder, _RATINGS_100K)) is not None:
        ds = assemble(_ratings(ratings, "\t"), _items_100k(folder), _users(folder, "u.user"))
    elif (ratings := find_first(folder, _RATINGS_1M)) is not None:
        sep = "::" if ratings.name.startswith("ratings.dat") else ","
        ds = assemble(_ratings(ratings, sep), _movies_1m(folder), _users(folder, "users.dat"))
    else:
        looked = ", ".join(_RATINGS_100K + _RATINGS_1M)
        raise DataError(f"{folder}: no MovieLens ratings file found (looked for {looked})")
    return apply_min_rating(ds, min_rating, f"MovieLens data at {folder}")


def _ratings(path: Path, separator: str) -> pl.DataFrame:
    if separator == ",":  # the rebuilt ML-1M file: header user,item,rating; no timestamps
        raw = read_text(path)
        require_columns(raw, ("user", "item", "rating"), path.name)
        raw, extra = raw.rename({"user": "u", "item": "i"}), []
    else:
        names = ["u", "i", "rating", "timestamp"]
        raw, extra = read_text(path, separator=separator, names=names, quoted=False), ["timestamp"]
    frame = raw.select(
        pl.col("u").alias("user_id"),
        pl.col("i").alias("video_id"),
        *extra,
        *no_durations(),
        *no_engagement(),
        pl.col("rating"),
    )
    return validate(frame, INTERACTIONS, path.name)


def _year_start(title: pl.Expr) -> pl.Expr:
    """1 January of the ``(YYYY)`` year at the end of a title, as a date (null if none)."""
    year = title.str.extract(_YEAR, 1).cast(pl.Int32, strict=False)
    return pl.date(year, 1, 1)


def _genre_names(folder: Path) -> tuple[str, ...]:
    path = folder / "u.genre"
    if not path.is_file():
        return GENRES_100K
    raw = read_text(path, separator="|", names=["name", "index"], quoted=False)
    ordered = raw.drop_nulls().with_columns(pl.col("index").cast(pl.Int32, strict=False))
    names = tuple(ordered.sort("index")["name"].to_list())
    if len(names) != len(GENRES_100K) or ordered["index"].null_count():
        raise DataError(f"{path}: expected 19 lines 'genre|index'; got {raw.height}")
    return names


def _items_100k(folder: Path) -> pl.DataFrame | None:
    path = folder / "u.item"
    if not path.is_file():
        return None
    genres = _genre_names(folder)
    flags = [f"g{i}" for i in range(len(genres))]
    names = ["video_id", "title", "release", "video_release", "url", *flags]
    raw = read_text(path, separator="|", names=names, encoding="latin-1", quoted=False)
    raw = convert(raw, path.name, dict.fromkeys(flags, (_flag, "a genre flag 0 or 1")))
    raw = convert(raw, path.name, {"release": (_release_date, "a date like 01-Jan-1995")})
    tags = pl.concat_list(
        pl.when(pl.col(f)).then(pl.lit(g)) for f, g in zip(flags, genres, strict=True)
    ).list.drop_nulls()
    frame = raw.select(
        "video_id",
        pl.lit(None, pl.Utf8).alias("creator_id"),
        tags.list.filter(pl.element() != "unknown").alias("tags"),
        pl.lit(None, pl.Float64).alias("duration_seconds"),
        pl.col("release").fill_null(_year_start(pl.col("title"))).alias("upload_timestamp"),
        "title",
    )
    return validate(frame, VIDEOS, path.name)


def _flag(col: pl.Expr) -> pl.Expr:
    return col.replace_strict({"0": False, "1": True}, default=None, return_dtype=pl.Boolean)


def _release_date(col: pl.Expr) -> pl.Expr:
    return col.str.strip_chars().str.to_date("%d-%b-%Y", strict=False)


def _movies_1m(folder: Path) -> pl.DataFrame | None:
    path = folder / "movies.dat"
    if not path.is_file():
        return None
    names = ["video_id", "title", "genres"]
    raw = read_text(path, separator="::", names=names, encoding="latin-1", quoted=False)
    tags = pl.col("genres").fill_null("").str.split("|")
    frame = raw.select(
        "video_id",
        pl.lit(None, pl.Utf8).alias("creator_id"),
        tags.list.filter(~pl.element().is_in(["", "(no genres listed)"])).alias("tags"),
        pl.lit(None, pl.Float64).alias("duration_seconds"),
        _year_start(pl.col("title")).alias("upload_timestamp"),
        "title",
    )
    return validate(frame, VIDEOS, path.name)


def _age_bucket(age: pl.Expr) -> pl.Expr:
    """Years (or ML-1M's age codes, which are the bucket's lower bound) → ML-1M age bucket."""
    return pl.coalesce(*(pl.when(age < upper).then(pl.lit(label)) for upper, label in _AGE_BUCKETS))


def _users(folder: Path, name: str) -> pl.DataFrame | None:
    path = folder / name
    if not path.is_file():
        return None
    if name == "users.dat":  # UserID::Gender::Age::Occupation::Zip, Age already a bucket code
        names, sep = ["user_id", "gender", "age", "occupation", "zip"], "::"
    else:  # user id | age | gender | occupation | zip code
        names, sep = ["user_id", "age", "gender", "occupation", "zip"], "|"
    raw = read_text(path, separator=sep, names=names, encoding="latin-1", quoted=False)
    raw = convert(raw, path.name, {"age": (as_float, "an age in years (a number)")})
    zip_head = pl.col("zip").str.strip_chars().str.slice(0, 1).str.to_uppercase()
    frame = raw.select(
        "user_id",
        _age_bucket(pl.col("age")).alias("age_bucket"),
        pl.col("gender").str.strip_chars(),
        pl.when(zip_head != "").then(pl.lit("zip") + zip_head).alias("region"),
    )
    return validate(frame, USERS, path.name)
