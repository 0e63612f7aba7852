"""Public-dataset converters: shared samples (skipped when absent) and fixtures in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from reelrec.data.public import (
    FORMATS,
    load_kuairand,
    load_kuairec,
    load_microlens,
    load_movielens,
    prepare,
)
from reelrec.data.public_common import read_text
from reelrec.data.readers import Dataset, write_dataset
from reelrec.errors import ConfigError, DataError

Shared = Callable[[str], Path]
BOM = "\ufeff"
KUAIRAND_LOG_HEADER = (
    "user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward,"
    "is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,comment_stay_time,"
    "is_profile_enter,is_rand,tab"
)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def _covers_ids(ds: Dataset) -> None:
    """Side tables cover every id the interactions use, ids are text, keys unique."""
    for key, table in (("video_id", ds.videos), ("user_id", ds.users)):
        assert table[key].dtype == pl.Utf8
        assert table[key].is_unique().all()
        assert ds.interactions[key].is_in(table[key].implode()).all()


def _row(frame: pl.DataFrame, key: str, value: str) -> dict[str, Any]:
    return frame.filter(pl.col(key) == value).row(0, named=True)


# --- MovieLens ---------------------------------------------------------------------------------


def test_movielens_100k_figures_ids_tags_users(shared_data: Shared) -> None:
    ds = load_movielens(shared_data("movielens-100k"))
    inter = ds.interactions
    assert inter.height == 100_000
    assert inter["user_id"].n_unique() == 943
    assert ds.users.height == 943
    assert inter["video_id"].n_unique() == 1682
    assert ds.videos.height == 1682
    assert inter.row(0, named=True)["user_id"] == "196"
    assert inter["video_id"][0] == "242"
    assert ds.has_time
    assert inter["timestamp"][0] == datetime(1997, 12, 4, 15, 55, 49, tzinfo=UTC)
    assert inter["watch_seconds"].null_count() == inter.height
    assert not inter["liked"].any()
    toy = _row(ds.videos, "video_id", "1")
    assert toy["tags"] == ["Animation", "Children's", "Comedy"]
    assert toy["title"] == "Toy Story (1995)"
    assert toy["upload_timestamp"] == datetime(1995, 1, 1, tzinfo=UTC)
    assert _row(ds.videos, "video_id", "543")["title"] == "Misérables, Les (1995)"  # latin-1
    assert _row(ds.users, "user_id", "1") == {
        "user_id": "1", "age_bucket": "18-24", "gender": "M", "region": "zip8",
    }  # fmt: skip
    _covers_ids(ds)


def test_movielens_100k_min_rating(shared_data: Shared) -> None:
    src = shared_data("movielens-100k")
    ds = load_movielens(src, min_rating=3)
    assert ds.interactions.height == 100_000 - 6_110 - 11_370
    assert ds.interactions["rating"].min() == 3
    assert ds.videos.height == 1682
    assert ds.users.height == 943
    assert prepare("movielens", src, min_rating=3).interactions.height == ds.interactions.height


def test_movielens_1m_figures_without_timestamps(shared_data: Shared) -> None:
    ds = load_movielens(shared_data("movielens-1m"))
    inter = ds.interactions
    assert inter.height == 1_000_209
    assert inter["user_id"].n_unique() == 6040
    assert ds.users.height == 6040
    assert inter["video_id"].n_unique() == 3706
    assert ds.videos.height == 3883
    assert inter.row(0, named=True)["video_id"] == "1193"
    assert inter["user_id"][0] == "1"
    assert inter["rating"][0] == 5.0
    assert "timestamp" not in inter.columns
    assert not ds.has_time
    assert _row(ds.videos, "video_id", "73")["title"] == "Misérables, Les (1995)"
    assert _row(ds.videos, "video_id", "2")["tags"] == ["Adventure", "Children's", "Fantasy"]
    assert _row(ds.users, "user_id", "1")["age_bucket"] == "<18"
    assert _row(ds.users, "user_id", "2")["age_bucket"] == "56+"
    assert _row(ds.users, "user_id", "2")["gender"] == "M"
    _covers_ids(ds)


def test_movielens_1m_min_rating(shared_data: Shared) -> None:
    ds = prepare("movielens", shared_data("movielens-1m"), min_rating=3)
    assert ds.interactions.height == 836_478


def _tiny_100k(folder: Path) -> Path:
    _write(folder / "u.data", "1\t1\t4\t881250949\n2\t2\t2\t891717742\n")
    flags_1 = "|".join(["0", "1"] + ["0"] * 17)  # Action
    flags_2 = "|".join(["1"] + ["0"] * 18)  # unknown only
    items = f"1|Café (1995)|01-Jan-1995||url|{flags_1}\n2|Odd (1990)|||url|{flags_2}\n"
    _write(folder / "u.item", items, encoding="latin-1")
    _write(folder / "u.user", "1|17|F|student|T8H1N\n2|56|M|other|\n")
    return folder


def test_movielens_100k_mapping_on_fixture(tmp_path: Path) -> None:
    ds = load_movielens(_tiny_100k(tmp_path))
    assert ds.videos["title"].to_list() == ["Café (1995)", "Odd (1990)"]
    assert ds.videos["tags"].to_list() == [["Action"], []]  # "unknown" genre dropped
    assert ds.videos["upload_timestamp"][1] == datetime(1990, 1, 1, tzinfo=UTC)  # year in title
    assert ds.users["age_bucket"].to_list() == ["<18", "56+"]
    assert ds.users["region"].to_list() == ["zipT", None]


def test_movielens_malformed_row_names_file_row_column(tmp_path: Path) -> None:
    _tiny_100k(tmp_path)
    _write(tmp_path / "u.data", "1\t1\t4\t881250949\n2\t2\tfive\t891717742\n")
    with pytest.raises(DataError, match=r"u\.data row 2: column 'rating'.*'five'"):
        load_movielens(tmp_path)
    _tiny_100k(tmp_path)
    _write(tmp_path / "u.item", "1|T (1995)|1995-01-01||url|" + "|".join(["0"] * 19) + "\n")
    with pytest.raises(DataError, match=r"u\.item row 1: column 'release'"):
        load_movielens(tmp_path)


# --- KuaiRec -----------------------------------------------------------------------------------


def test_kuairec_sample_full_format(shared_data: Shared) -> None:
    src = shared_data("kuairec-first1000")
    assert read_text(src / "big_matrix_1000.csv").columns[0] == "user_id"  # BOM stripped
    ds = load_kuairec(src)
    first = ds.interactions.row(0, named=True)
    assert ds.interactions.height == 1000
    assert (first["user_id"], first["video_id"]) == ("0", "3649")
    assert first["watch_seconds"] == pytest.approx(13.838)
    assert first["video_seconds"] == pytest.approx(10.867)
    assert first["timestamp"] == datetime(2020, 7, 4, 16, 8, 23, 438_000, tzinfo=UTC)
    assert "watch_ratio" not in ds.interactions.columns
    video = _row(ds.videos, "video_id", "0")
    assert video["tags"] == ["cat8", "tag841"]
    assert (video["creator_id"], video["duration_seconds"]) == ("3309", pytest.approx(5.966))
    assert video["upload_timestamp"] == datetime(2020, 3, 30, tzinfo=UTC)
    assert _row(ds.videos, "video_id", "1")["tags"][:2] == ["cat27", "cat9"]
    assert ds.users.columns == ["user_id"]
    assert ds.users.height >= 1000
    _covers_ids(ds)


def test_kuairec_random83_keeps_watch_ratio(shared_data: Shared) -> None:
    ds = load_kuairec(shared_data("kuairec-random83"))
    inter = ds.interactions
    assert inter.height == 117_113
    assert inter["user_id"].n_unique() == 1411
    assert inter["video_id"].n_unique() == 2519
    assert inter.row(0, named=True)["watch_ratio"] == 1.3318276580959  # exact, as in the file
    assert inter["video_id"][0] == "10070"
    assert not ds.has_time
    assert inter["video_seconds"].null_count() == inter.height
    _covers_ids(ds)


def test_kuairec_bom_time_fallback_and_zero_duration(tmp_path: Path) -> None:
    _write(
        tmp_path / "small_matrix.csv",
        BOM + "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n"
        "7,01,5000,0,2020-07-05 08:00:00.000,20200705,,inf\n"
        "7,2,5000,10000,,,1593907200.5,0.5\n"
        "8,2,1000,10000,,,,0.1\n",
    )
    ds = load_kuairec(tmp_path)
    inter = ds.interactions
    assert inter["user_id"].to_list() == ["7", "7"]  # the row without any time is dropped
    assert inter["video_id"].to_list() == ["01", "2"]  # ids kept as written
    assert inter["timestamp"].to_list() == [
        datetime(2020, 7, 5, 0, 0, tzinfo=UTC),  # Beijing local time → UTC
        datetime(2020, 7, 5, 0, 0, 0, 500_000, tzinfo=UTC),
    ]
    assert inter["video_seconds"].to_list() == [None, 10.0]
    assert ds.videos["tags"].to_list() == [[], []]  # no side files: ids only


# --- KuaiRand ----------------------------------------------------------------------------------


def _kuairand_log(path: Path, rows: list[str]) -> Path:
    return _write(path, KUAIRAND_LOG_HEADER + "\n" + "".join(r + "\n" for r in rows))


def test_kuairand_log_with_real_features(shared_data: Shared, tmp_path: Path) -> None:
    features = shared_data("kuairand-pure-features")
    for name in ("user_features_pure.csv.gz", "video_features_basic_pure.csv.gz"):
        (tmp_path / name).symlink_to(features / name)
    _kuairand_log(
        tmp_path / "log_standard_4_08_to_4_21_pure.csv",
        [
            "0,5,20220408,1000,1649383200000,1,1,0,0,1,0,1,12500,20000,0,0,0,0,1",
            "0,90,20220408,1001,1649383260000,0,0,0,0,0,0,0,,15000,0,0,0,0,1",
            "1,99999,20220409,1200,1649476800123,1,0,1,1,0,0,0,3000,0,0,0,0,0,2",
        ],
    )
    ds = load_kuairand(tmp_path)
    inter = ds.interactions.to_dicts()
    assert inter[0]["timestamp"] == datetime(2022, 4, 8, 2, 0, tzinfo=UTC)
    assert (inter[0]["watch_seconds"], inter[0]["video_seconds"]) == (12.5, 20.0)
    assert (inter[0]["liked"], inter[0]["shared"], inter[0]["commented"]) == (True, True, False)
    assert inter[1]["watch_seconds"] == 0.0  # impression without a click
    assert (inter[2]["followed"], inter[2]["commented"], inter[2]["video_seconds"]) == (
        True, True, None,
    )  # fmt: skip
    assert ds.users.height == 27_285
    assert ds.videos.height == 7_583 + 1
    video = _row(ds.videos, "video_id", "5")
    assert (video["creator_id"], video["tags"]) == ("8367059", ["tag20", "tag43"])
    assert video["duration_seconds"] == pytest.approx(358.016)
    assert video["upload_timestamp"] == datetime(2022, 4, 10, tzinfo=UTC)
    assert _row(ds.videos, "video_id", "75")["tags"] == []  # missing tag
    _covers_ids(ds)


def test_kuairand_random_logs_and_errors(tmp_path: Path) -> None:
    row = "3,4,20220501,900,1651366800000,1,0,0,0,0,0,0,1000,2000,0,0,0,1,0"
    _kuairand_log(tmp_path / "log_random_4_22_to_5_08_pure.csv", [row])
    with pytest.raises(DataError, match="include_random=True"):
        load_kuairand(tmp_path)
    assert load_kuairand(tmp_path, include_random=True).interactions.height == 1
    standard = tmp_path / "log_standard_4_22_to_5_08_pure.csv"
    _kuairand_log(standard, [row, row])
    assert load_kuairand(tmp_path).interactions.height == 2
    assert load_kuairand(tmp_path, include_random=True).interactions.height == 3
    _kuairand_log(standard, [row, row.replace("1000", "x")])
    with pytest.raises(DataError, match=r"log_standard_4_22_to_5_08_pure\.csv row 2: column 'play"):
        load_kuairand(tmp_path)


# --- MicroLens ---------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", [1, 1000])
def test_microlens_pairs_csv_and_titles(tmp_path: Path, unit: int) -> None:
    t0 = 1_583_076_639
    pairs = f"user,item,timestamp\n1,10,{t0 * unit}\n1,11,{(t0 + 1) * unit}\n2,10,{t0 * unit}\n"
    _write(tmp_path / "MicroLens-50k_pairs.csv", pairs)
    _write(tmp_path / "MicroLens-50k_titles.csv", 'item,title\n10,"hi, there # tag"\n12,plain\n')
    ds = load_microlens(tmp_path)
    assert ds.interactions["timestamp"][0] == datetime.fromtimestamp(t0, UTC)
    assert ds.interactions["video_id"].to_list() == ["10", "11", "10"]
    assert ds.videos["video_id"].to_list() == ["10", "12", "11"]  # titles first, then derived
    assert ds.videos["title"].to_list() == ["hi, there # tag", "plain", None]
    assert ds.users["user_id"].to_list() == ["1", "2"]
    _covers_ids(ds)


def test_microlens_sequence_tsv_and_headerless_titles(tmp_path: Path) -> None:
    _write(tmp_path / "MicroLens-100k_pairs.tsv", "1\t5 6 7\n2\t6\n")
    _write(tmp_path / "MicroLens-100k_title_en.csv", '5,"a, b"\n6,c\n')
    ds = prepare("microlens", tmp_path)
    assert ds.interactions.select("user_id", "video_id").rows() == [
        ("1", "5"), ("1", "6"), ("1", "7"), ("2", "6"),
    ]  # fmt: skip
    assert not ds.has_time
    assert ds.videos["title"].to_list() == ["a, b", "c", None]


# --- reelrec, dispatcher, errors ---------------------------------------------------------------


def test_reelrec_round_trip_and_min_rating_needs_ratings(tmp_path: Path) -> None:
    (tmp_path / "ml").mkdir()
    ds = load_movielens(_tiny_100k(tmp_path / "ml"))
    write_dataset(ds, tmp_path / "out")
    back = prepare("reelrec", tmp_path / "out", min_rating=3)
    assert back.interactions.equals(ds.interactions.filter(pl.col("rating") >= 3))
    assert back.videos.equals(ds.videos)
    assert back.users.equals(ds.users)
    _write(tmp_path / "pairs.csv", "user,item,timestamp\n1,2,3\n")
    with pytest.raises(DataError, match=r"min_rating=3 .*no 'rating' column"):
        prepare("microlens", tmp_path, min_rating=3)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_files_name_folder_and_files(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(DataError, match=str(tmp_path)) as info:
        prepare(fmt, tmp_path)  # type: ignore[arg-type]
    expected = {
        "reelrec": "interactions.parquet",
        "movielens": "u.data, u.data.gz, ratings.dat",
        "kuairec": "big_matrix*.csv",
        "kuairand": "log_standard_*.csv",
        "microlens": "*pairs*.csv",
    }[fmt]
    assert expected in str(info.value)
    with pytest.raises(DataError, match="not a"):
        prepare(fmt, tmp_path / "absent")  # type: ignore[arg-type]


def test_unknown_format() -> None:
    with pytest.raises(ConfigError, match="expected one of reelrec, movielens"):
        prepare("netflix", Path("."))  # type: ignore[arg-type]
