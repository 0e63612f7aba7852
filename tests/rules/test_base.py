from __future__ import annotations

import numpy as np

from reelrec.rules.base import Candidates, VideoTable, passed_over
from tests.rules.helpers import ranked, table


def test_take_keep_annotate_record_reasons_and_removals() -> None:
    slate = ranked([5, 6, 7, 8])
    out = slate.annotate(np.array([1]), "x").annotate(np.array([1]), "x")
    assert out.reasons[1] == ("ranked", "x")  # once per item
    kept = out.keep(np.array([True, False, True, False]), "f").keep(np.ones(2, bool), "g")
    assert kept.video_idx.tolist() == [5, 7]
    assert kept.removed_counts() == {"f": 2}  # rules that removed nothing are not recorded
    moved = kept.take(np.array([1, 0]), note="m")
    assert moved.video_idx.tolist() == [7, 5]
    assert moved.scores.tolist() == [2.0, 4.0]
    assert moved.reasons == (("ranked", "m"), ("ranked", "m"))
    assert moved == kept.take(np.array([1, 0]), note="m")
    assert moved != kept


def test_from_ranked_drops_padding() -> None:
    slate = Candidates.from_ranked(np.array([3, -1]), np.array([1.0, -np.inf]))
    assert slate.video_idx.tolist() == [3]
    assert slate.reasons == (("retrieval",),)


def test_passed_over_marks_exactly_the_items_moved_ahead() -> None:
    # Input positions 0..4; output order 0, 3, 1, 2, 4: item 3 jumped ahead of 1 and 2.
    assert passed_over(np.array([0, 3, 1, 2, 4])).tolist() == [3]
    # Output 2, 1, 0: 1 jumped ahead of 0, and 2 ahead of both.
    assert passed_over(np.array([2, 1, 0])).tolist() == [1, 2]
    assert passed_over(np.arange(4)).size == 0


def test_from_arrays_packs_tags_and_groups_reuploads() -> None:
    t = VideoTable.from_arrays(
        creator_idx=np.array([0, 1, 2]),
        tag_idx=np.array([[-1, 4, 5], [-1, -1, -1], [7, -1, 8]]),
        upload_seconds=np.zeros(3),
        unsafe=np.zeros(3, bool),
        vectors=np.eye(3, dtype=np.float32),
        popularity=np.zeros(3),
        duplicate_of=np.array([-1, -1, 0]),
    )
    assert t.primary_tag.tolist() == [4, -1, 7]
    assert t.tag_idx.tolist()[2] == [7, 8, -1]
    assert t.duplicate_group.tolist() == [0, 1, 0]


def test_append_shifts_new_groups_and_joins_reuploads_to_their_original() -> None:
    base = table(3, duplicate_of=[-1, -1, 0])
    new = table(2, vectors=np.eye(3, dtype=np.float32)[:2])
    both = base.append(new, duplicate_of=np.array([2, -1]))
    assert len(both) == 5
    assert both.duplicate_group.tolist() == [0, 1, 0, 0, 4]
    assert both.vectors.shape[0] == 5
