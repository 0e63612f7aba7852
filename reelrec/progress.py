"""One Rich progress helper for every long step; silent when stderr is not a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def is_enabled() -> bool:
    """Progress bars show on an interactive stderr, or when REELREC_PROGRESS=1 forces them."""
    forced = os.environ.get("REELREC_PROGRESS")
    if forced is not None:
        return forced == "1"
    return sys.stderr.isatty()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
        disable=not is_enabled(),
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Yield from ``items`` while showing a progress bar named ``description``."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with _progress() as progress:
        task = progress.add_task(description, total=total, info="")
        for item in items:
            yield item
            progress.advance(task)


class Step:
    """A handle to advance a running bar and show a short status (loss, examples/s)."""

    def __init__(self, progress: Progress, task: object) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: float = 1.0, info: str | None = None) -> None:
        """Advance by ``n`` units and optionally replace the status text."""
        if info is None:
            self._progress.advance(self._task, n)  # type: ignore[arg-type]
        else:
            self._progress.update(self._task, advance=n, info=info)  # type: ignore[arg-type]


@contextmanager
def bar(description: str, total: float | None) -> Iterator[Step]:
    """Context manager form for loops that advance by variable amounts."""
    with _progress() as progress:
        task = progress.add_task(description, total=total, info="")
        yield Step(progress, task)
