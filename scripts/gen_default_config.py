"""Regenerate configs/default.toml from the pydantic field descriptions (after config changes)."""

from __future__ import annotations

from pathlib import Path

from reelrec.config import Config, _toml_value

lines = [
    "# reelrec default configuration: every key, with its meaning and default.",
    "# Load with `--config FILE`; override any key with `--set section.key=value`.",
    "",
]
for name, field in Config.model_fields.items():
    model = field.annotation
    assert model is not None
    lines.append(f"[{name}]")
    instance = model()
    for key, spec in model.model_fields.items():
        lines.append(f"# {spec.description}")
        lines.append(f"{key} = {_toml_value(getattr(instance, key))}")
    lines.append("")
Path(__file__).resolve().parents[1].joinpath("configs", "default.toml").write_text("\n".join(lines))
