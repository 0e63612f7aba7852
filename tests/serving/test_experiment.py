"""A/B experiments in the service: variants honoured by stages, exposures and outcomes logged."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from reelrec.config import ExperimentConfig
from reelrec.errors import ConfigError
from reelrec.evaluation.ab import analyze, read_log
from reelrec.recommender import Recommender
from reelrec.serving.app import create_app
from reelrec.serving.experiment import ServedExperiment


def _experiment(**variant_b: object) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "name": "rules-off",
            "variants": [
                {"name": "control", "share": 0.5},
                {"name": "treatment", "share": 0.5, **variant_b},
            ],
        }
    )


def test_variants_needing_another_run_or_settings_are_refused(run_dir: Path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="variant 'treatment' needs run_dir"):
        ServedExperiment.from_config(_experiment(run_dir=str(tmp_path)), run_dir, None)
    with pytest.raises(ConfigError, match="needs overrides"):
        ServedExperiment.from_config(_experiment(overrides=["rules.creator_cap=1"]), run_dir, None)
    same = ServedExperiment.from_config(_experiment(run_dir=str(run_dir)), run_dir, None)
    assert same.stages == {"control": None, "treatment": None}


def test_service_serves_each_variant_its_stages_and_logs_exposures_and_outcomes(
    run_dir: Path, tmp_path: Path
) -> None:
    rec = Recommender.load(run_dir)
    served = ServedExperiment.from_config(
        _experiment(stages=["retrieve"]), run_dir, tmp_path / "log"
    )
    app = create_app(rec, experiment=served)
    users = rec.space_.users.ids[:40]
    arms: dict[str, str] = {}
    shown: dict[str, list[str]] = {}
    with TestClient(app) as client:
        for user in users:
            body = client.post("/v1/recommend", json={"user_id": user, "k": 5}).json()
            arms[user] = body["variant"]
            shown[user] = [item["video_id"] for item in body["items"]]
            reasons = {r for item in body["items"] for r in item["reasons"]}
            assert body["degraded"] == []  # a variant's missing stages are not a degradation
            if body["variant"] == "treatment":
                assert "ranked" not in reasons  # retrieval only
            else:
                assert "ranked" in reasons
        events = [
            {"user_id": u, "video_id": shown[u][0], "watch_seconds": 12.0, "video_seconds": 20.0}
            for u in users
        ]
        applied = client.post("/v1/events", json={"events": events}).json()
        assert applied["applied"] == len(users)
    # Leaving the client runs the lifespan shutdown, which flushes the log.
    frame, info = read_log(tmp_path / "log")
    assert info["experiment"] == "rules-off"
    assert set(frame.get_column("variant")) == {"control", "treatment"}
    assert frame.height == sum(len(v) for v in shown.values())
    answered = frame.filter(frame.get_column("watch_seconds").fill_null(0.0) > 0)
    assert answered.height == len(users)
    for row in answered.iter_rows(named=True):
        assert row["variant"] == arms[row["user_id"]]
    report = analyze(frame, control="control")
    assert set(report.variants) == {"control", "treatment"}
    assert "treatment" in report.lifts
