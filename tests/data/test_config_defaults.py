"""params.yaml is the one place a default is written: config.py only types and bounds the fields."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from deepfake_detect.config import ConfigError, Params, load_params

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and every settings model nested in it."""
    out = [model]
    for field in model.model_fields.values():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            out += _models(nested)
    return out


def test_no_setting_has_a_default_in_code():
    with_default = [
        f"{m.__name__}.{name}" for m in _models(Params) for name, f in m.model_fields.items() if not f.is_required()
    ]
    assert with_default == [], f"defaults belong in params.yaml, not config.py: {with_default}"


def test_a_params_file_missing_a_setting_names_it(tmp_path):
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    del raw["train"]["xception"]["batch_size"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"train\.xception\.batch_size: Field required"):
        load_params(path)


def test_a_misspelt_section_is_an_error_like_a_misspelt_key(tmp_path):
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    raw["trian"] = raw["train"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"trian: Extra inputs are not permitted"):
        load_params(path)


def test_overrides_merge_into_the_file_and_are_validated():
    p = load_params(REPO_PARAMS, {"train": {"xception": {"epochs": 7}}})
    assert (
        p.train.xception.epochs == 7
        and p.train.xception.batch_size == load_params(REPO_PARAMS).train.xception.batch_size
    )
    with pytest.raises(ConfigError, match=r"train\.xception\.epochs"):
        load_params(REPO_PARAMS, {"train": {"xception": {"epochs": 0}}})


def test_validate_and_clean_share_one_quality_section():
    p = load_params(REPO_PARAMS)
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    assert "max_brightness" not in raw["validate"] and "max_brightness" not in raw["clean"]
    assert p.quality.max_brightness == raw["quality"]["max_brightness"]


def test_validate_reports_exactly_what_clean_drops():
    import pandas as pd

    from deepfake_detect.pipeline.clean import quality_reason
    from deepfake_detect.pipeline.validate import manifest_expectations

    p = load_params(REPO_PARAMS)
    expectations = manifest_expectations(p.validate_, p.quality)
    bounds = {e.column: e for e in expectations if type(e).__name__ == "ExpectColumnValuesToBeBetween"}
    assert bounds["brightness"].max_value == p.quality.max_brightness
    assert bounds["sharpness"].min_value == p.quality.min_sharpness and bounds["width"].min_value == p.quality.min_side
    row = {"width": 128, "height": 128, "brightness": p.quality.max_brightness + 1, "sharpness": 100.0}
    assert quality_reason(pd.Series(row), p.quality).startswith("over-exposed")
    assert quality_reason(pd.Series({**row, "brightness": p.quality.max_brightness}), p.quality) is None
