"""Public datasets → reelrec's schema: one ``prepare()`` entry point and one loader per format.

Every loader returns a validated ``Dataset`` whose ids are the source's ids, as text, exactly as
written ("1193" stays "1193"). Side tables keep every row of their source file and are completed
with id-only rows for ids that only the interactions mention; without a side file they are
derived from the interactions. The per-format mapping is documented in ``public_movielens``,
``public_kuairec``, ``public_kuairand`` and ``public_microlens``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

from reelrec.data.public_common import apply_min_rating
from reelrec.data.public_kuairand import load_kuairand
from reelrec.data.public_kuairec import load_kuairec
from reelrec.data.public_microlens import load_microlens
from reelrec.data.public_movielens import load_movielens
from reelrec.data.readers import Dataset, read_dataset
from reelrec.errors import ConfigError

Format = Literal["reelrec", "movielens", "kuairec", "kuairand", "microlens"]
FORMATS: tuple[str, ...] = get_args(Format)


def load_reelrec(src: Path) -> Dataset:
    """Load a folder already in reelrec's schema (CSV or Parquet), validated."""
    return read_dataset(src)


_LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "reelrec": load_reelrec,
    "movielens": load_movielens,
    "kuairec": load_kuairec,
    "kuairand": load_kuairand,
    "microlens": load_microlens,
}


def prepare(fmt: Format, src: Path, min_rating: float | None = None) -> Dataset:
    """Load ``src`` in format ``fmt`` as a validated dataset.

    Args:
        fmt: the source format.
        src: the source folder.
        min_rating: keep only interactions rated ≥ this value (rated data only).

    Raises:
        ConfigError: unknown format.
        DataError: missing files, malformed rows, or ``min_rating`` on data without ratings.
    """
    loader = _LOADERS.get(fmt)
    if loader is None:
        raise ConfigError(f"unknown dataset format {fmt!r}; expected one of {', '.join(FORMATS)}")
    src = Path(src)
    return apply_min_rating(loader(src), min_rating, f"the {fmt} data at {src}")


__all__ = [
    "FORMATS",
    "Format",
    "load_kuairand",
    "load_kuairec",
    "load_microlens",
    "load_movielens",
    "load_reelrec",
    "prepare",
]
