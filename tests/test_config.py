"""Config: defaults file equals code defaults, unknown keys and bad values rejected, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelrec.config import Config, dump_config, load_config
from reelrec.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_default_toml_equals_code_defaults() -> None:
    assert load_config(ROOT / "configs" / "default.toml") == Config()


def test_default_toml_lists_every_key() -> None:
    text = (ROOT / "configs" / "default.toml").read_text()
    for section, model in Config.model_fields.items():
        assert f"[{section}]" in text
        for key in model.annotation.model_fields:  # type: ignore[union-attr]
            assert f"\n{key} = " in text, f"{section}.{key} missing from default.toml"


def test_overrides_apply_with_toml_types() -> None:
    cfg = load_config(overrides=["train.epochs=3", "index.kind=hnsw", "evaluation.ks=[5, 10]"])
    assert cfg.train.epochs == 3
    assert cfg.index.kind == "hnsw"
    assert cfg.evaluation.ks == [5, 10]


def test_unknown_key_names_key_valid_keys_and_suggestion() -> None:
    with pytest.raises(
        ConfigError, match=r"train\.epoch'.*valid keys.*epochs.*Did you mean 'train\.epochs'"
    ):
        load_config(overrides=["train.epoch=3"])


def test_unknown_section_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown config key 'trian'"):
        load_config(overrides=["trian.epochs=3"])


def test_bad_choice_lists_valid_choices() -> None:
    with pytest.raises(ConfigError, match="'exact', 'flat', 'hnsw' or 'ivf'"):
        load_config(overrides=["index.kind=annoy"])


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs=")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)


def test_override_without_equals() -> None:
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(overrides=["train.epochs"])


@given(st.floats(max_value=0.0, allow_nan=False) | st.floats(min_value=1.0001, max_value=1e9))
def test_out_of_range_temperature_raises(value: float) -> None:
    with pytest.raises(ConfigError, match="train.temperature"):
        load_config(overrides=[f"train.temperature={value!r}"])


@given(
    epochs=st.integers(1, 1000),
    temperature=st.floats(0.001, 1.0),
    kind=st.sampled_from(["auto", "exact", "flat", "hnsw", "ivf"]),
    ks=st.lists(st.integers(1, 500), min_size=1, max_size=4),
)
def test_dump_load_round_trip(epochs: int, temperature: float, kind: str, ks: list[int]) -> None:
    cfg = load_config(
        overrides=[
            f"train.epochs={epochs}",
            f"train.temperature={temperature!r}",
            f'index.kind="{kind}"',
            f"evaluation.ks={ks}",
        ]
    )
    assert load_config_from_text(dump_config(cfg)) == cfg


def load_config_from_text(text: str) -> Config:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(text)
        return load_config(path)
