"""Run directories and atomic writes: nothing half-written, the manifest is written last."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from reelrec.errors import ArtifactError

MANIFEST = "manifest.json"


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; artifacts get the usual umask-based mode
            tmp.chmod(0o666 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _read_umask() -> int:
    """The process umask, read once at import (setting it is process-wide, not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(target: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    atomic_write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def staged_dir(target: str | Path) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move its files into ``target`` on success.

    If the block raises, nothing is left in ``target`` (which is created only on success,
    or kept as it was if it existed before).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        target.mkdir(parents=True, exist_ok=True)
        for item in sorted(tmp.iterdir()):
            dest = target / item.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(item, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_columns(folder: Path, columns: Mapping[str, np.ndarray]) -> None:
    """Write one ``.npy`` file per column into ``folder`` (inside a ``staged_dir``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in columns.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(values))


def load_columns(folder: Path, names: Iterable[str], what: str) -> dict[str, np.ndarray]:
    """Memory-map (read-only) the ``.npy`` columns ``save_columns`` wrote.

    Each column is a plain ``ndarray`` view of its mapping: indexing an ``np.memmap`` runs
    Python-level ``__getitem__``/``__array_finalize__`` hooks (~12 µs each, ~0.2 ms per feed
    at 1M videos), and every slice of it would be a memmap too. The view keeps the mapping open.

    Raises:
        ArtifactError: a column is missing or unreadable, or the columns disagree on their
            length (a partly rewritten folder), naming ``folder`` and ``what`` it holds.
    """
    try:
        columns = {
            name: np.load(folder / f"{name}.npy", mmap_mode="r").view(np.ndarray) for name in names
        }
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{folder}: cannot read the {what} ({e})") from e
    lengths = {name: values.shape[0] for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ArtifactError(
            f"{folder}: {what} fields disagree on the number of videos {lengths}; "
            "it was partly written — re-run the step that wrote it"
        )
    return columns


def environment() -> dict[str, str]:
    """Versions recorded in every manifest."""
    from reelrec import __version__

    versions = {"reelrec": __version__, "python": platform.python_version()}
    for name in ("numpy", "torch", "faiss", "polars"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions


def file_fingerprint(paths: list[Path]) -> str:
    """A short content hash of files (size + first/last MiB) to identify a data snapshot."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}".encode())
        with path.open("rb") as fh:
            digest.update(fh.read(1 << 20))
            if stat.st_size > (1 << 20):
                fh.seek(-(1 << 20), os.SEEK_END)
                digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def write_manifest(run_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Write ``manifest.json`` (last, so its presence means the directory is complete)."""
    manifest = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": environment(),
        "command": " ".join(sys.argv),
        **fields,
    }
    atomic_write_json(Path(run_dir) / MANIFEST, manifest)
    return manifest


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """Read a run directory's manifest, or raise ``ArtifactError`` saying what to run."""
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        raise ArtifactError(
            f"{run_dir}: no {MANIFEST}; the run directory is missing or incomplete "
            "(run `reelrec train DATA_DIR -o RUN_DIR` first)."
        )
    try:
        result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path}: not valid JSON ({e}); re-create the run.") from e
    return result
