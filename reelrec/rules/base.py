"""The rule contract: a feed in progress (``Candidates``), what rules may read, and ``Rule``.

A rule takes one user's candidates (best first) and returns a subset of them, possibly
re-ordered or re-scored, recording why it moved an item (``reasons``) and how many it
removed (``removed``). The contract every rule obeys is in ADR-0006.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Protocol

import numpy as np

from reelrec.artifacts import load_columns, save_columns
from reelrec.types import Idx

_EMPTY_IDX = np.empty(0, dtype=np.int64)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Candidates:
    """One user's feed in progress, best first.

    Attributes:
        video_idx: [n] int64 dense video indices (rows of the ``VideoTable``).
        scores: [n] float64 feed scores (descending on input from the ranker).
        reasons: per item, the stages and rules that placed it, e.g. ``("retrieval", "ranked")``.
        removed: ``(rule name, count)`` for each rule that removed at least one item.
        applied: names of the score-changing rules that have run (they run once per slate).
    """

    video_idx: Idx
    scores: np.ndarray
    reasons: tuple[tuple[str, ...], ...]
    removed: tuple[tuple[str, int], ...] = ()
    applied: tuple[str, ...] = ()

    @classmethod
    def from_ranked(
        cls, video_idx: Idx, scores: np.ndarray, reasons: tuple[str, ...] = ("retrieval",)
    ) -> Candidates:
        """Candidates with the same ``reasons`` on every item (``-1`` padding dropped)."""
        video_idx = np.asarray(video_idx, dtype=np.int64)
        keep = video_idx >= 0
        n = int(keep.sum())
        return cls(
            video_idx=video_idx[keep],
            scores=np.asarray(scores, dtype=np.float64)[keep],
            reasons=(tuple(reasons),) * n,
        )

    @classmethod
    def empty(cls) -> Candidates:
        """No candidates."""
        return cls(video_idx=_EMPTY_IDX, scores=np.empty(0, dtype=np.float64), reasons=())

    def __len__(self) -> int:
        return int(self.video_idx.shape[0])

    def __eq__(self, other: object) -> bool:
        """Same items, scores (exactly), reasons and removal counts."""
        if not isinstance(other, Candidates):
            return NotImplemented
        return (
            np.array_equal(self.video_idx, other.video_idx)
            and np.array_equal(self.scores, other.scores)
            and self.reasons == other.reasons
            and self.removed == other.removed
            and self.applied == other.applied
        )

    __hash__ = None  # type: ignore[assignment]

    def take(self, rows: Idx, note: str | None = None) -> Candidates:
        """Items at positions ``rows``, in that order; ``note`` is added to their reasons."""
        rows = np.asarray(rows, dtype=np.int64)
        picked = rows.tolist()
        reasons: tuple[tuple[str, ...], ...] = (
            tuple(itemgetter(*picked)(self.reasons))
            if len(picked) > 1
            else tuple(self.reasons[r] for r in picked)
        )
        if note is not None:
            reasons = tuple([r if note in r else (*r, note) for r in reasons])
        return Candidates(
            video_idx=self.video_idx[rows],
            scores=self.scores[rows],
            reasons=reasons,
            removed=self.removed,
            applied=self.applied,
        )

    def keep(self, mask: np.ndarray, rule: str) -> Candidates:
        """Items where ``mask`` is true, in order; the others count as removed by ``rule``."""
        dropped = int(mask.size - np.count_nonzero(mask))
        if dropped == 0:
            return self
        out = self.take(np.flatnonzero(mask))
        return Candidates(
            video_idx=out.video_idx,
            scores=out.scores,
            reasons=out.reasons,
            removed=_add_count(self.removed, rule, dropped),
            applied=self.applied,
        )

    def annotate(self, rows: Idx, note: str) -> Candidates:
        """Add ``note`` to the reasons of the items at positions ``rows`` (once per item)."""
        picked = np.asarray(rows, dtype=np.int64).tolist()
        if not picked:
            return self
        reasons = list(self.reasons)
        for i in picked:
            if note not in reasons[i]:
                reasons[i] = (*reasons[i], note)
        return Candidates(
            video_idx=self.video_idx,
            scores=self.scores,
            reasons=tuple(reasons),
            removed=self.removed,
            applied=self.applied,
        )

    def reorder(self, order: Idx, notes: tuple[tuple[Idx, str], ...] = ()) -> Candidates:
        """``annotate(rows, note)`` for each of ``notes``, then ``take(order)``, in one pass.

        ``rows`` are input positions, as for ``annotate``; only those ``order`` keeps matter.
        """
        order = np.asarray(order, dtype=np.int64)
        picked = order.tolist()
        if not picked:
            return self.take(order)
        got = itemgetter(*picked)(self.reasons)
        reasons = list(got) if len(picked) > 1 else [got]
        if notes:
            where = np.full(len(self), -1, dtype=np.int64)
            where[order] = np.arange(order.size)
            for rows, note in notes:
                # Items mostly share a few reason tuples: extend each distinct one once (by id).
                extended: dict[int, tuple[str, ...]] = {}
                for p in where[np.asarray(rows, dtype=np.int64)].tolist():
                    if p < 0:
                        continue
                    r = reasons[p]
                    new = extended.get(id(r))
                    if new is None:
                        new = extended[id(r)] = r if note in r else (*r, note)
                    reasons[p] = new
        return Candidates(
            video_idx=self.video_idx[order],
            scores=self.scores[order],
            reasons=tuple(reasons),
            removed=self.removed,
            applied=self.applied,
        )

    def with_scores(self, scores: np.ndarray) -> Candidates:
        """The same items with new ``scores`` ([n] float64)."""
        return Candidates(
            video_idx=self.video_idx,
            scores=np.asarray(scores, dtype=np.float64),
            reasons=self.reasons,
            removed=self.removed,
            applied=self.applied,
        )

    def mark_applied(self, rule: str) -> Candidates:
        """The same slate, recording that the score-changing ``rule`` has run on it."""
        return Candidates(
            video_idx=self.video_idx,
            scores=self.scores,
            reasons=self.reasons,
            removed=self.removed,
            applied=(*self.applied, rule),
        )

    def removed_counts(self) -> dict[str, int]:
        """``{rule name: items removed}`` (rules that removed nothing are absent)."""
        return dict(self.removed)


def passed_over(order: Idx) -> Idx:
    """Positions (in the input) of items that ``order`` moves ahead of an earlier item.

    ``order`` lists input positions in output order. An item is "moved up" when some item
    before it in the input comes after it in the output; the items not moved up keep their
    relative order (ADR-0006), so this is what re-ranking rules note.
    """
    new_pos = np.empty(order.size, dtype=np.int64)
    new_pos[order] = np.arange(order.size)
    before = np.maximum.accumulate(np.concatenate([[-1], new_pos[:-1]]))
    out: Idx = np.flatnonzero(before > new_pos)
    return out


def _add_count(
    counts: tuple[tuple[str, int], ...], rule: str, n: int
) -> tuple[tuple[str, int], ...]:
    merged = dict(counts)
    merged[rule] = merged.get(rule, 0) + n
    return tuple(merged.items())


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class VideoTable:
    """Catalogue-wide arrays indexed by dense video idx; built once per model.

    Attributes:
        creator_idx: [V] int64 (-1 unknown).
        tag_idx: [V, T] int64 tag indices, padded with -1; column 0 is the primary tag.
        upload_seconds: [V] float64 epoch seconds (nan unknown).
        unsafe: [V] bool.
        duplicate_group: [V] int64 near-duplicate group (re-uploads share their original's
            group; every other video is its own group, ``duplicate_group[v] == v``).
        vectors: [V, d] float32 unit item-tower vectors.
        popularity: [V] float64 interaction counts.
    """

    creator_idx: Idx
    tag_idx: Idx
    upload_seconds: np.ndarray
    unsafe: np.ndarray
    duplicate_group: Idx
    vectors: np.ndarray
    popularity: np.ndarray

    def __len__(self) -> int:
        return int(self.creator_idx.shape[0])

    @property
    def primary_tag(self) -> Idx:
        """[V] first tag of each video (-1 none)."""
        out: Idx = self.tag_idx[:, 0] if self.tag_idx.shape[1] else np.full(len(self), -1)
        return out

    @classmethod
    def from_arrays(
        cls,
        *,
        creator_idx: Idx,
        tag_idx: Idx,
        upload_seconds: np.ndarray,
        unsafe: np.ndarray,
        vectors: np.ndarray,
        popularity: np.ndarray,
        duplicate_of: Idx | None = None,
        duplicate_group: Idx | None = None,
    ) -> VideoTable:
        """A table from catalogue arrays (all row-aligned with dense video idx).

        Args:
            tag_idx: [V, T] tags padded with -1 (``VideoArrays.tags`` is 0-padded and shifted
                by one: pass ``tags - 1``).
            duplicate_of: [V] the original of each re-upload (-1 for originals), when the data
                marks re-uploads; ``duplicate_group`` may be given instead (e.g. from
                ``duplicate_groups(vectors, threshold)``). Without either, every video is its
                own group.
        """
        n = int(np.asarray(creator_idx).shape[0])
        if duplicate_group is None:
            duplicate_group = np.arange(n, dtype=np.int64)
            if duplicate_of is not None:
                dup = np.asarray(duplicate_of, dtype=np.int64)
                duplicate_group = np.where(dup >= 0, dup, duplicate_group)
        tags = np.asarray(tag_idx, dtype=np.int64).reshape(n, -1)
        return cls(
            creator_idx=np.asarray(creator_idx, dtype=np.int64),
            tag_idx=_pack_tags(tags),
            upload_seconds=np.asarray(upload_seconds, dtype=np.float64),
            unsafe=np.asarray(unsafe, dtype=bool),
            duplicate_group=np.asarray(duplicate_group, dtype=np.int64),
            vectors=np.ascontiguousarray(vectors, dtype=np.float32),
            popularity=np.asarray(popularity, dtype=np.float64),
        )

    def save(self, folder: Path) -> None:
        """Write one ``.npy`` file per field into ``folder``."""
        save_columns(folder, {name: getattr(self, name) for name in self.__dataclass_fields__})

    @classmethod
    def load(cls, folder: Path) -> VideoTable:
        """Read what ``save`` wrote, memory-mapped read-only.

        Raises:
            ArtifactError: a field is missing, unreadable, or of another length.
        """
        return cls(**load_columns(folder, cls.__dataclass_fields__, "rules' video table"))

    def append(self, other: VideoTable, duplicate_of: Idx | None = None) -> VideoTable:
        """Rows of ``self`` then ``other`` (new videos ingested at serving time).

        Args:
            other: a table of the new videos alone; its ``duplicate_group`` values are its own
                row numbers and are shifted by ``len(self)``.
            duplicate_of: [len(other)] idx (in the combined table) of the video each new one
                re-uploads, -1 for none; a re-upload joins its original's group.
        """
        group = other.duplicate_group + len(self)
        if duplicate_of is not None:
            dup = np.asarray(duplicate_of, dtype=np.int64)
            original = np.concatenate([self.duplicate_group, group])
            group = np.where(dup >= 0, original[np.maximum(dup, 0)], group)
        width = max(self.tag_idx.shape[1], other.tag_idx.shape[1])
        return VideoTable(
            creator_idx=np.concatenate([self.creator_idx, other.creator_idx]),
            tag_idx=np.concatenate([_widen(self.tag_idx, width), _widen(other.tag_idx, width)]),
            upload_seconds=np.concatenate([self.upload_seconds, other.upload_seconds]),
            unsafe=np.concatenate([self.unsafe, other.unsafe]),
            duplicate_group=np.concatenate([self.duplicate_group, group]),
            vectors=np.concatenate([self.vectors, other.vectors]),
            popularity=np.concatenate([self.popularity, other.popularity]),
        )


def _pack_tags(tags: Idx) -> Idx:
    """Move each row's real tags (>= 0) to the front, keeping their order; pad with -1."""
    if tags.size == 0:
        return tags
    order = np.argsort(tags < 0, axis=1, kind="stable")
    out: Idx = np.take_along_axis(tags, order, axis=1)
    return np.where(out >= 0, out, -1)


def _widen(tags: Idx, width: int) -> Idx:
    if tags.shape[1] == width:
        return tags
    pad = np.full((tags.shape[0], width - tags.shape[1]), -1, dtype=np.int64)
    return np.concatenate([tags, pad], axis=1)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RuleContext:
    """What rules may read besides the candidates: the catalogue and the user's state.

    Attributes:
        videos: the catalogue table.
        seen: video idx the user has already seen (training + live events).
        seen_seconds: [len(seen)] epoch seconds of each view (nan unknown), for windowed seen
            filters; ``None`` means every view counts as recent.
        now_seconds: request time, epoch seconds (freshness is measured against it).
        blocklist: video idx never to show to this user (reports, "not interested").
        k: final feed length; caps and exploration slots refer to the first ``k`` positions.
    """

    videos: VideoTable
    seen: Idx = field(default_factory=lambda: _EMPTY_IDX)
    seen_seconds: np.ndarray | None = None
    now_seconds: float = float("nan")
    blocklist: frozenset[int] = frozenset()
    k: int = 20


class Rule(Protocol):
    """A feed rule: ``apply`` returns a subset of ``slate`` (see ADR-0006 for the contract)."""

    @property
    def name(self) -> str:
        """Registry name; also the note recorded on items the rule moves."""
        ...

    def apply(self, slate: Candidates, ctx: RuleContext) -> Candidates:
        """The slate after this rule."""
        ...
