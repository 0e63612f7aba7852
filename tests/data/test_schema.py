"""Schema validation: coercions, and errors that name file, row, column, expected and got."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelrec.data.schema import INTERACTIONS, VIDEOS, validate
from reelrec.errors import DataError


def _interactions(n: int = 3) -> dict[str, list[object]]:
    return {
        "user_id": [str(i) for i in range(n)],
        "video_id": ["v1"] * n,
        "timestamp": ["2024-01-01T00:00:00Z"] * n,
        "watch_seconds": ["1.5"] * n,
        "video_seconds": ["10"] * n,
        "liked": ["0"] * n,
        "shared": ["false"] * n,
        "commented": ["1"] * n,
        "followed": ["true"] * n,
    }


def test_valid_text_frame_is_coerced() -> None:
    out = validate(pl.DataFrame(_interactions()), INTERACTIONS, "interactions.csv")
    assert out.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert out.schema["liked"] == pl.Boolean
    assert out["commented"].to_list() == [True] * 3
    assert out["watch_seconds"].to_list() == [1.5] * 3


def test_integer_ids_become_exact_strings() -> None:
    raw = pl.DataFrame(_interactions()).with_columns(pl.Series("user_id", [1, 1193, 7]))
    out = validate(raw, INTERACTIONS, "x.parquet")
    assert out["user_id"].to_list() == ["1", "1193", "7"]


def test_epoch_seconds_timestamp() -> None:
    raw = pl.DataFrame(_interactions(1)).with_columns(pl.Series("timestamp", [1593878903.438]))
    out = validate(raw, INTERACTIONS, "x")
    assert str(out["timestamp"][0]) == "2020-07-04 16:08:23.438000+00:00"


@pytest.mark.parametrize(
    ("column", "value", "pattern"),
    [
        (
            "watch_seconds",
            "-3",
            r"x\.csv row 2: column 'watch_seconds' expected a number ≥ 0; got -3",
        ),
        (
            "watch_seconds",
            "abc",
            r"x\.csv row 2: column 'watch_seconds' expected a number.*got 'abc'",
        ),
        ("timestamp", "yesterday", r"x\.csv row 2: column 'timestamp' expected a UTC timestamp"),
        ("liked", "maybe", r"x\.csv row 2: column 'liked' expected a boolean.*got 'maybe'"),
        ("video_seconds", "0", r"x\.csv row 2: column 'video_seconds' expected a number > 0"),
        ("user_id", "", r"x\.csv row 2: column 'user_id'.*empty id"),
    ],
)
def test_bad_value_names_file_row_column(column: str, value: str, pattern: str) -> None:
    raw = _interactions()
    raw[column][1] = value
    with pytest.raises(DataError, match=pattern):
        validate(pl.DataFrame(raw), INTERACTIONS, "x.csv")


def test_missing_column_names_it_and_lists_found() -> None:
    raw = _interactions()
    del raw["liked"]
    with pytest.raises(
        DataError, match=r"x\.csv: missing required column 'liked'.*found columns: user_id"
    ):
        validate(pl.DataFrame(raw), INTERACTIONS, "x.csv")


def test_videos_tags_vectors_and_duplicates() -> None:
    raw = pl.DataFrame(
        {
            "video_id": ["a", "b"],
            "creator_id": ["c", None],
            "tags": ["dance|music", ""],
            "duration_seconds": ["12", "30"],
            "upload_timestamp": ["2024-01-01", None],
            "title": ["hello", None],
            "visual_vector": ["0.1 0.2", "0.3 0.4"],
        }
    )
    out = validate(raw, VIDEOS, "videos.csv")
    assert out["tags"].to_list() == [["dance", "music"], []]
    assert out["unsafe"].to_list() == [False, False]
    assert out["visual_vector"].to_list()[1] == pytest.approx([0.3, 0.4])
    with pytest.raises(DataError, match="row 2: column 'video_id'.*duplicate id"):
        validate(raw.with_columns(pl.Series("video_id", ["a", "a"])), VIDEOS, "videos.csv")
    ragged = raw.with_columns(pl.Series("visual_vector", ["0.1 0.2", "0.3"]))
    with pytest.raises(DataError, match="row 2: column 'visual_vector'.*length"):
        validate(ragged, VIDEOS, "videos.csv")


def test_vectors_with_a_null_first_row_and_huge_components() -> None:
    """Found by fuzzing POST /v1/videos: a null first vector crashed the length check, and a
    component beyond float32 overflowed to inf."""
    base = {
        "video_id": ["a", "b", "c"],
        "creator_id": ["c", "c", "d"],
        "tags": ["x", "y", ""],
        "duration_seconds": ["12", "30", "9"],
        "upload_timestamp": ["2024-01-01", None, None],
        "title": ["a", None, None],
    }
    fine = pl.DataFrame(
        {**base, "visual_vector": [None, [0.1, 0.2], [0.3, 0.4]]},
        schema_overrides={"visual_vector": pl.List(pl.Float64)},
    )
    assert validate(fine, VIDEOS, "v.json")["visual_vector"].to_list()[0] is None
    ragged = pl.DataFrame(
        {**base, "visual_vector": [None, [0.1, 0.2], [0.3]]},
        schema_overrides={"visual_vector": pl.List(pl.Float64)},
    )
    with pytest.raises(DataError, match="row 3: column 'visual_vector'.*length 1"):
        validate(ragged, VIDEOS, "v.json")
    huge = pl.DataFrame(
        {**base, "visual_vector": [[0.1, 0.2], [1e168, 0.0], [0.3, 0.4]]},
        schema_overrides={"visual_vector": pl.List(pl.Float64)},
    )
    with pytest.raises(DataError, match="row 2: column 'visual_vector'.*non-finite"):
        validate(huge, VIDEOS, "v.json")


@settings(max_examples=60, deadline=None)
@given(
    watch=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=20
    ),
    liked=st.lists(st.booleans(), min_size=1, max_size=20),
)
def test_validation_accepts_exactly_nonnegative_watch_times(
    watch: list[float], liked: list[bool]
) -> None:
    n = min(len(watch), len(liked))
    raw = _interactions(n)
    raw["watch_seconds"] = watch[:n]
    raw["liked"] = liked[:n]
    frame = pl.DataFrame(raw)
    negative = [i for i, w in enumerate(watch[:n]) if w < 0]
    if negative:
        with pytest.raises(DataError, match=f"row {negative[0] + 1}: column 'watch_seconds'"):
            validate(frame, INTERACTIONS, "x")
    else:
        out = validate(frame, INTERACTIONS, "x")
        assert out.height == n
        assert out["liked"].to_list() == liked[:n]
