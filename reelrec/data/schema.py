"""Columns, dtypes and constraints of interactions / videos / users, and ``validate()``.

Validation coerces what can be coerced safely (ints to string ids, 0/1 to booleans, epoch
seconds or ISO-8601 text to UTC datetimes) and otherwise raises ``DataError`` naming the
file, the 1-based data row, the column, what was expected and what was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from reelrec.errors import DataError

Kind = Literal["id", "float", "bool", "datetime", "tags", "vector", "text"]
UTC_DATETIME = pl.Datetime("us", "UTC")

_EXPECTED: dict[Kind, str] = {
    "id": "a non-empty string id",
    "float": "a number",
    "bool": "a boolean (true/false or 0/1)",
    "datetime": "a UTC timestamp (ISO-8601 text or epoch seconds)",
    "tags": "a list of strings (in CSV: 'a|b|c')",
    "vector": "a fixed-length list of numbers (in CSV: space-separated)",
    "text": "text",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """One column: name, kind, presence, nullability and numeric bounds."""

    name: str
    kind: Kind
    required: bool = True
    nullable: bool = False
    ge: float | None = None
    gt: float | None = None
    default: object = None

    @property
    def expected(self) -> str:
        """Human description of a valid value."""
        text = _EXPECTED[self.kind]
        if self.ge is not None:
            text += f" ≥ {self.ge:g}"
        if self.gt is not None:
            text += f" > {self.gt:g}"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """A table's columns, in canonical order, and its file name inside a data folder."""

    name: str
    columns: tuple[Column, ...]
    key: str | None = None

    @property
    def file_name(self) -> str:
        """``interactions.parquet`` etc."""
        return f"{self.name}.parquet"

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


INTERACTIONS = Table(
    name="interactions",
    columns=(
        Column(name="user_id", kind="id"),
        Column(name="video_id", kind="id"),
        Column(name="timestamp", kind="datetime", required=False),
        Column(name="watch_seconds", kind="float", nullable=True, ge=0.0),
        Column(name="video_seconds", kind="float", nullable=True, gt=0.0),
        Column(name="liked", kind="bool"),
        Column(name="shared", kind="bool"),
        Column(name="commented", kind="bool"),
        Column(name="followed", kind="bool"),
        Column(name="rating", kind="float", required=False, nullable=True),
        # For public logs that give only the ratio (KuaiRec's random subsample): no durations.
        Column(name="watch_ratio", kind="float", required=False, nullable=True, ge=0.0),
    ),
)

VIDEOS = Table(
    name="videos",
    key="video_id",
    columns=(
        Column(name="video_id", kind="id"),
        Column(name="creator_id", kind="id", nullable=True),
        Column(name="tags", kind="tags", default=[]),
        Column(name="duration_seconds", kind="float", nullable=True, gt=0.0),
        Column(name="upload_timestamp", kind="datetime", nullable=True),
        Column(name="title", kind="text", nullable=True),
        Column(name="unsafe", kind="bool", required=False, default=False),
        Column(name="audio_vector", kind="vector", required=False, nullable=True),
        Column(name="visual_vector", kind="vector", required=False, nullable=True),
    ),
)

USERS = Table(
    name="users",
    key="user_id",
    columns=(
        Column(name="user_id", kind="id"),
        Column(name="age_bucket", kind="text", required=False, nullable=True),
        Column(name="gender", kind="text", required=False, nullable=True),
        Column(name="region", kind="text", required=False, nullable=True),
        Column(name="device", kind="text", required=False, nullable=True),
        Column(name="signup_timestamp", kind="datetime", required=False, nullable=True),
    ),
)

TABLES = {t.name: t for t in (INTERACTIONS, VIDEOS, USERS)}


def _fail(source: str, row: int, column: Column, got: object, why: str = "") -> DataError:
    extra = f" ({why})" if why else ""
    return DataError(
        f"{source} row {row}: column '{column.name}' expected {column.expected}; got {got!r}{extra}"
    )


def _first_bad(df: pl.DataFrame, mask: pl.Series) -> int | None:
    idx = mask.arg_true()
    return None if idx.len() == 0 else int(idx[0])


def _check(
    df: pl.DataFrame, source: str, column: Column, coerced: pl.Series, why: str = ""
) -> None:
    """Raise on the first row whose original value was present but did not coerce."""
    original = df.get_column(column.name)
    bad = _first_bad(df, original.is_not_null() & coerced.is_null())
    if bad is not None:
        raise _fail(source, bad + 1, column, original[bad], why)


def _to_datetime(series: pl.Series) -> pl.Series:
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return series.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return series.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if dtype == pl.Date:
        return series.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype.is_numeric():
        return (series.cast(pl.Float64) * 1e6).round().cast(pl.Int64).cast(UTC_DATETIME)
    text = series.cast(pl.Utf8).str.strip_chars()
    as_number = text.cast(pl.Float64, strict=False)
    from_number = (as_number * 1e6).round().cast(pl.Int64, strict=False).cast(UTC_DATETIME)
    from_text = text.str.to_datetime(strict=False, time_zone="UTC", time_unit="us")
    return from_number.fill_null(from_text)


def _to_bool(series: pl.Series) -> pl.Series:
    if series.dtype == pl.Boolean:
        return series
    text = series.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
    mapping |= {"1.0": True, "0.0": False, "t": True, "f": False}
    return text.replace_strict(mapping, default=None, return_dtype=pl.Boolean)


def _to_tags(series: pl.Series) -> pl.Series:
    if isinstance(series.dtype, pl.List | pl.Array):
        return series.cast(pl.List(pl.Utf8))
    text = series.cast(pl.Utf8)
    return (
        pl.DataFrame({"t": text})
        .select(
            pl.when(pl.col("t").str.strip_chars() == "")
            .then(pl.lit([], dtype=pl.List(pl.Utf8)))
            .otherwise(pl.col("t").str.split("|").list.eval(pl.element().str.strip_chars()))
        )
        .to_series()
    )


def _to_vector(series: pl.Series) -> pl.Series:
    if isinstance(series.dtype, pl.List | pl.Array):
        return series.cast(pl.List(pl.Float32), strict=False)
    words = series.cast(pl.Utf8).str.strip_chars().str.split(" ")
    return words.list.eval(pl.element().cast(pl.Float32, strict=False)).rename(series.name)


def _coerce(df: pl.DataFrame, source: str, column: Column) -> pl.Series:
    series = df.get_column(column.name)
    if column.kind in ("id", "text"):
        if series.dtype.is_float():
            # 1.0 → "1": ids stored as floats by a spreadsheet or pandas round-trip.
            as_int = series.cast(pl.Int64, strict=False)
            if (as_int.cast(pl.Float64) == series).fill_null(True).all():
                series = as_int
        return series.cast(pl.Utf8)
    if column.kind == "float":
        coerced = series.cast(pl.Float64, strict=False)
    elif column.kind == "bool":
        coerced = _to_bool(series)
    elif column.kind == "datetime":
        coerced = _to_datetime(series)
    elif column.kind == "tags":
        return _to_tags(series)
    else:
        coerced = _to_vector(series)
        bad_elem = coerced.list.eval(pl.element().is_null().any()).list.first().fill_null(False)
        bad = _first_bad(df, bad_elem)
        if bad is not None:
            raise _fail(source, bad + 1, column, series[bad])
        return coerced
    _check(df, source, column, coerced)
    return coerced


def _constraints(df: pl.DataFrame, source: str, column: Column) -> None:
    series = df.get_column(column.name)
    if not column.nullable:
        bad = _first_bad(df, series.is_null())
        if bad is not None:
            raise _fail(source, bad + 1, column, None, "missing value")
    if column.kind == "id":
        bad = _first_bad(df, (series.str.strip_chars() == "").fill_null(False))
        if bad is not None:
            raise _fail(source, bad + 1, column, series[bad], "empty id")
    if column.kind == "float":
        bad_mask = series.is_nan().fill_null(False) | series.is_infinite().fill_null(False)
        if column.ge is not None:
            bad_mask |= (series < column.ge).fill_null(False)
        if column.gt is not None:
            bad_mask |= (series <= column.gt).fill_null(False)
        bad = _first_bad(df, bad_mask)
        if bad is not None:
            raise _fail(source, bad + 1, column, series[bad])
    if column.kind == "vector":
        lengths = series.list.len().cast(pl.Int64)
        present = lengths.drop_nulls()
        if present.n_unique() > 1:
            first = int(present[0])
            bad = _first_bad(df, (lengths != first).fill_null(False))
            row = bad or 0
            raise _fail(
                source, row + 1, column, f"length {lengths[row]}", f"other rows have length {first}"
            )
        finite = series.list.eval(pl.element().cast(pl.Float32).is_finite()).list.all()
        bad = _first_bad(df, (~finite).fill_null(False))
        if bad is not None:
            raise _fail(source, bad + 1, column, "a non-finite component", "finite float32 values")


def validate(df: pl.DataFrame, table: Table, source: str) -> pl.DataFrame:
    """Coerce ``df`` to ``table``'s schema or raise ``DataError`` naming file, row and column.

    Args:
        df: the raw frame as read from CSV or Parquet.
        table: one of ``INTERACTIONS``, ``VIDEOS``, ``USERS``.
        source: the file name used in error messages.

    Raises:
        DataError: a required column is missing or a value is invalid.
    """
    out: dict[str, pl.Series] = {}
    for column in table.columns:
        if column.name not in df.columns:
            if column.required:
                raise DataError(
                    f"{source}: missing required column '{column.name}' (expected "
                    f"{column.expected}); found columns: {', '.join(df.columns) or 'none'}"
                )
            if column.default is None:
                continue
            df = df.with_columns(pl.Series(column.name, [column.default] * df.height))
        coerced = _coerce(df, source, column)
        checked = df.with_columns(coerced.alias(column.name))
        _constraints(checked, source, column)
        out[column.name] = coerced.alias(column.name)
    result = pl.DataFrame(out)
    if table.key is not None:
        dup = _first_bad(result, ~result.get_column(table.key).is_first_distinct())
        if dup is not None:
            key = table.column(table.key)
            raise _fail(source, dup + 1, key, result[table.key][dup], "duplicate id")
    return result


def empty(table: Table) -> pl.DataFrame:
    """An empty frame with ``table``'s required columns and canonical dtypes."""
    dtypes: dict[Kind, pl.DataType] = {
        "id": pl.Utf8(),
        "text": pl.Utf8(),
        "float": pl.Float64(),
        "bool": pl.Boolean(),
        "datetime": UTC_DATETIME,
        "tags": pl.List(pl.Utf8),
        "vector": pl.List(pl.Float32),
    }
    return pl.DataFrame(schema={c.name: dtypes[c.kind] for c in table.columns if c.required})
