"""Read and write data folders: CSV/Parquet → validated Polars frames, and atomic writes back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from reelrec.artifacts import staged_dir
from reelrec.data.schema import INTERACTIONS, USERS, VIDEOS, Table, empty, validate
from reelrec.errors import DataError

_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".tsv")


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """A data folder in memory: interactions, videos and users, validated."""

    interactions: pl.DataFrame
    videos: pl.DataFrame
    users: pl.DataFrame

    def with_interactions(self, interactions: pl.DataFrame) -> Dataset:
        """The same videos and users with other interactions (e.g. a training split)."""
        return Dataset(interactions=interactions, videos=self.videos, users=self.users)

    @property
    def has_time(self) -> bool:
        """Whether interactions carry timestamps (public ratings data may not)."""
        return "timestamp" in self.interactions.columns


def _find(folder: Path, table: Table) -> Path | None:
    for suffix in _SUFFIXES:
        candidate = folder / f"{table.name}{suffix}"
        if candidate.exists():
            return candidate
    return None


def read_table(path: str | Path, table: Table) -> pl.DataFrame:
    """Read one CSV or Parquet file and validate it against ``table``.

    CSV cells are read as text so that ids stay exactly as written ("007" stays "007").

    Raises:
        DataError: the file is missing, unreadable, or does not match the schema.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected the {table.name} table)")
    try:
        if path.name.endswith(".parquet"):
            raw = pl.read_parquet(path)
        else:
            sep = "\t" if path.suffix == ".tsv" else ","
            raw = pl.read_csv(path, infer_schema=False, separator=sep, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(f"{path}: cannot read as {table.name} ({e})") from e
    return validate(raw, table, path.name)


def read_interactions(path: str | Path) -> pl.DataFrame:
    """Read interactions from a data folder or a single CSV/Parquet file."""
    path = Path(path)
    if path.is_dir():
        found = _find(path, INTERACTIONS)
        if found is None:
            raise DataError(f"{path}: no interactions.parquet or interactions.csv in this folder")
        path = found
    return read_table(path, INTERACTIONS)


def _check_references(ds: Dataset, folder: Path) -> None:
    known = ds.videos.get_column("video_id")
    missing = ~ds.interactions.get_column("video_id").is_in(known.implode())
    idx = missing.arg_true()
    if idx.len():
        row = int(idx[0])
        vid = ds.interactions["video_id"][row]
        raise DataError(
            f"{folder / 'interactions'} row {row + 1}: column 'video_id' expected an id present "
            f"in videos; got {vid!r} ({idx.len()} rows reference unknown videos)"
        )


def read_dataset(folder: str | Path) -> Dataset:
    """Read a data folder (interactions required; videos and users optional).

    Missing videos/users tables are derived from the interactions (ids only).

    Raises:
        DataError: a file does not match the schema, or interactions name unknown videos.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a data folder (expected interactions.parquet inside)")
    interactions = read_interactions(folder)
    videos_path, users_path = _find(folder, VIDEOS), _find(folder, USERS)
    if videos_path is not None:
        videos = read_table(videos_path, VIDEOS)
    else:
        ids = interactions.select(pl.col("video_id").unique(maintain_order=True))
        videos = validate(ids, _ids_only(VIDEOS), "videos (derived)").pipe(_fill_videos)
    if users_path is not None:
        users = read_table(users_path, USERS)
    else:
        users = interactions.select(pl.col("user_id").unique(maintain_order=True))
    ds = Dataset(interactions=interactions, videos=videos, users=users)
    _check_references(ds, folder)
    return ds


def _ids_only(table: Table) -> Table:
    return Table(name=table.name, key=table.key, columns=table.columns[:1])


def _fill_videos(ids: pl.DataFrame) -> pl.DataFrame:
    schema = empty(VIDEOS).schema
    return ids.with_columns(
        [
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in schema.items()
            if name != "video_id"
        ]
    ).with_columns(pl.col("tags").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))


def write_dataset(
    ds: Dataset, folder: str | Path, extra: dict[str, pl.DataFrame] | None = None
) -> Path:
    """Write a dataset as Parquet into ``folder`` atomically (nothing half-written on failure)."""
    folder = Path(folder)
    with staged_dir(folder) as tmp:
        ds.interactions.write_parquet(tmp / INTERACTIONS.file_name)
        ds.videos.write_parquet(tmp / VIDEOS.file_name)
        ds.users.write_parquet(tmp / USERS.file_name)
        for name, frame in (extra or {}).items():
            frame.write_parquet(tmp / f"{name}.parquet")
    return folder
