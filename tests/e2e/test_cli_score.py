"""`reelrec score RUN_DIR --pairs FILE [--json]` on a tiny run directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelrec.cli import app
from reelrec.ranking.model import HEADS

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, tiny_rec, tiny_split):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("score")
    tiny_rec.save(base / "run")
    frame = tiny_split[1].head(30)
    rows = ["user_id,video_id"] + [
        f"{u},{v}" for u, v in zip(frame["user_id"], frame["video_id"], strict=True)
    ]
    rows.append("someone_new,v_not_in_catalogue")
    (base / "pairs.csv").write_text("\n".join(rows) + "\n")
    return base, rows[1:]


def test_score_json_lines_in_input_order(scored) -> None:  # type: ignore[no-untyped-def]
    base, pairs = scored
    done = subprocess.run(
        [sys.executable, "-m", "reelrec", "score", str(base / "run"), "--pairs",
         str(base / "pairs.csv"), "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [f"{r['user_id']},{r['video_id']}" for r in lines] == pairs
    for r in lines[:-1]:
        assert set(r["heads"]) == set(HEADS)
        assert r["score"] is not None
        assert r["score"] >= 0.0
        assert r["heads"]["watch"] >= 0.0
        assert 0.0 <= r["heads"]["like"] <= 1.0
    assert lines[-1]["score"] is None  # an unknown video cannot be scored


def test_score_plain_lines_match_json(scored) -> None:  # type: ignore[no-untyped-def]
    base, pairs = scored
    runner = CliRunner()
    plain = runner.invoke(app, ["score", str(base / "run"), "--pairs", str(base / "pairs.csv")])
    as_json = runner.invoke(
        app, ["score", str(base / "run"), "--pairs", str(base / "pairs.csv"), "--json"]
    )
    assert plain.exit_code == 0, plain.output
    lines = plain.stdout.splitlines()
    assert len(lines) == len(pairs)
    first = json.loads(as_json.stdout.splitlines()[0])
    user, video, score, *heads = lines[0].split(",")
    assert (user, video) == (first["user_id"], first["video_id"])
    assert float(score) == pytest.approx(first["score"], abs=1e-6)
    assert heads[0].startswith("watch=")


def test_bad_pairs_file_names_file_and_row(scored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, _ = scored
    bad = tmp_path / "bad.csv"
    bad.write_text("u1,v1\nu2\n")
    runner = CliRunner()
    done = runner.invoke(app, ["score", str(base / "run"), "--pairs", str(bad)])
    assert done.exit_code == 1
    assert "bad.csv row 2" in done.stderr
    assert "user_id,video_id" in done.stderr
    missing = runner.invoke(app, ["score", str(base / "run"), "--pairs", str(tmp_path / "no.csv")])
    assert missing.exit_code == 1
    assert "no.csv" in missing.stderr
