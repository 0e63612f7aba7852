"""Shared plumbing of the public-dataset converters: finding files, reading text tables, checks.

Every reader keeps cells as text so that ids stay exactly as written in the source ("1193" stays
"1193", "007" stays "007"); numbers are converted explicitly and a cell that does not convert
raises ``DataError`` naming the file, the 1-based data row and the source column.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import polars as pl

from reelrec.data.readers import Dataset
from reelrec.data.schema import USERS, VIDEOS, validate
from reelrec.errors import DataError

FLAGS = ("liked", "shared", "commented", "followed")
Converter = Callable[[pl.Expr], pl.Expr]


def require_dir(src: Path, what: str) -> Path:
    """``src`` as a folder, or ``DataError`` if it is not one."""
    if not src.is_dir():
        raise DataError(f"{src}: not a folder (expected a {what} data folder)")
    return src


def find_all(folder: Path, patterns: Iterable[str]) -> list[Path]:
    """Files of ``folder`` matching any of ``patterns`` (glob), pattern order then name order."""
    found: list[Path] = []
    for pattern in patterns:
        found += [p for p in sorted(folder.glob(pattern)) if p.is_file() and p not in found]
    return found


def find_first(folder: Path, patterns: Sequence[str]) -> Path | None:
    """The first file matching the earliest pattern that matches anything, or ``None``."""
    found = find_all(folder, patterns)
    return found[0] if found else None


def require_file(folder: Path, patterns: Sequence[str], what: str) -> Path:
    """Like ``find_first`` but raises ``DataError`` naming the folder and the patterns tried."""
    found = find_first(folder, patterns)
    if found is None:
        raise DataError(f"{folder}: no {what} found (looked for {', '.join(patterns)})")
    return found


def with_gz(*names: str) -> tuple[str, ...]:
    """Each name followed by its ``.gz`` variant."""
    return tuple(n for name in names for n in (name, f"{name}.gz"))


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in ``.gz``."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e


def first_line(path: Path) -> str:
    """The first line of a (possibly gzipped) text file, BOM stripped."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            return fh.readline().rstrip("\r\n")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e


def read_text(
    path: Path,
    *,
    separator: str = ",",
    names: Sequence[str] | None = None,
    header: bool | None = None,
    encoding: str = "utf-8",
    quoted: bool = True,
) -> pl.DataFrame:
    """Read a delimited text file as all-text columns.

    Args:
        path: the file (``.gz`` is decompressed).
        separator: one character, or ``"::"`` (MovieLens ``.dat`` files).
        names: column names (the first ones, in order) for a file without a header.
        header: whether the first line is a header; default: only when ``names`` is not given.
        encoding: ``"utf-8"`` (a BOM is dropped) or e.g. ``"latin-1"``.
        quoted: whether ``"`` quotes cells.
    """
    source: Path | bytes = path
    if len(separator) > 1 or encoding.lower() not in ("utf-8", "utf8"):
        text = read_bytes(path).decode(encoding)
        if len(separator) > 1:
            text, separator = text.replace(separator, "\x1f"), "\x1f"
        source = text.encode("utf-8")
    try:
        df = pl.read_csv(
            source,
            separator=separator,
            has_header=names is None if header is None else header,
            new_columns=list(names) if names is not None else None,
            infer_schema=False,
            quote_char='"' if quoted else None,
            encoding="utf8-lossy",
        )
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(f"{path}: cannot read as a delimited table ({e})") from e
    if df.width and df.columns[0].startswith("\ufeff"):
        df = df.rename({df.columns[0]: df.columns[0].lstrip("\ufeff")})
    return df


def require_columns(df: pl.DataFrame, columns: Iterable[str], source: str) -> None:
    """Raise ``DataError`` naming the missing source columns."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; found: {', '.join(df.columns)}"
        )


def as_float(col: pl.Expr) -> pl.Expr:
    """Text → Float64 (null where it does not parse)."""
    return col.cast(pl.Float64, strict=False)


def as_date(col: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DD`` text → Date (null where it does not parse)."""
    return col.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)


def convert(
    df: pl.DataFrame, source: str, converters: dict[str, tuple[Converter, str]]
) -> pl.DataFrame:
    """Convert source columns in place; a present cell that does not convert raises ``DataError``.

    Args:
        df: the raw frame, row order as in the file.
        source: the file name for messages.
        converters: column → (conversion, description of a valid value).
    """
    out = df.with_columns(fn(pl.col(name)).alias(name) for name, (fn, _) in converters.items())
    for name, (_, expected) in converters.items():
        bad = (df[name].is_not_null() & out[name].is_null()).arg_true()
        if bad.len():
            row = int(bad[0])
            got = df[name][row]
            raise DataError(
                f"{source} row {row + 1}: column '{name}' expected {expected}; got {got!r}"
            )
    return out


def no_engagement() -> list[pl.Expr]:
    """The four engagement flags, all False (sources that do not log them)."""
    return [pl.lit(False).alias(flag) for flag in FLAGS]


def no_durations() -> list[pl.Expr]:
    """Null watch and video seconds (sources without watch time)."""
    return [pl.lit(None, pl.Float64).alias(c) for c in ("watch_seconds", "video_seconds")]


def ids_only(ids: pl.Series, table_name: str) -> pl.DataFrame:
    """A videos or users frame holding just ``ids`` (other columns null, tags empty)."""
    table = VIDEOS if table_name == "videos" else USERS
    key = table.columns[0].name
    frame = pl.DataFrame({key: ids.cast(pl.Utf8)})
    if table is VIDEOS:
        frame = frame.with_columns(
            pl.lit(None, pl.Utf8).alias("creator_id"),
            pl.lit([], pl.List(pl.Utf8)).alias("tags"),
            pl.lit(None, pl.Float64).alias("duration_seconds"),
            pl.lit(None, pl.Utf8).alias("upload_timestamp"),
            pl.lit(None, pl.Utf8).alias("title"),
        )
    return validate(frame, table, f"{table_name} (derived)")


def _complete(frame: pl.DataFrame | None, ids: pl.Series, table_name: str) -> pl.DataFrame:
    ids = ids.unique(maintain_order=True)
    if frame is None:
        return ids_only(ids, table_name)
    key = frame.columns[0]
    missing = ids.filter(~ids.is_in(frame[key].implode()))
    if missing.is_empty():
        return frame
    return pl.concat([frame, ids_only(missing, table_name)], how="diagonal_relaxed")


def assemble(
    interactions: pl.DataFrame, videos: pl.DataFrame | None, users: pl.DataFrame | None
) -> Dataset:
    """A dataset whose videos/users tables cover every id the interactions use.

    Side tables keep every row of their source; ids seen only in interactions are appended as
    id-only rows, and a missing side table is derived from the interactions.
    """
    return Dataset(
        interactions=interactions,
        videos=_complete(videos, interactions["video_id"], "videos"),
        users=_complete(users, interactions["user_id"], "users"),
    )


def apply_min_rating(ds: Dataset, min_rating: float | None, what: str) -> Dataset:
    """Keep interactions rated ≥ ``min_rating``; ``DataError`` if the data has no ratings."""
    if min_rating is None:
        return ds
    if "rating" not in ds.interactions.columns:
        raise DataError(
            f"min_rating={min_rating:g} was given but {what} has no 'rating' column "
            "(only rated data such as MovieLens can be filtered by rating); drop min_rating"
        )
    kept = ds.interactions.filter(pl.col("rating") >= min_rating)
    return Dataset(interactions=kept, videos=ds.videos, users=ds.users)
