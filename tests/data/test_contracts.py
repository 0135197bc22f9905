"""Each contract has one typed definition; a row or record that breaks it fails where it is made."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from deepfake_detect.contracts.drift import SUMMARY_FIELDS, DriftResult
from deepfake_detect.data.manifest import MANIFEST_COLUMNS, ManifestRow

ROW = {
    "crop_id": "root__a_f0000_0",
    "path": "data/interim/faces/a.jpg",
    "video": "a.mp4",
    "part": ".",
    "frame": 0,
    "person": 0,
    "x": 1,
    "y": 2,
    "w": 64,
    "h": 64,
    "confidence": 0.97,
    "label": "FAKE",
    "group": "b.mp4",
    "dataset": "dfdc",
    "source": "dfdc_videos",
}


def test_manifest_columns_are_the_row_contract():
    assert MANIFEST_COLUMNS == list(ManifestRow.model_fields) == list(ROW)


@pytest.mark.parametrize("bad", [{"label": "fake"}, {"frame": "first"}, {"source": "youtube"}, {"extra": 1}])
def test_a_row_that_breaks_the_contract_is_refused(bad):
    with pytest.raises(ValidationError):
        ManifestRow(**{**ROW, **bad})


def test_a_trained_record_has_no_release_fields_until_promote(tmp_path):
    from deepfake_detect.models.artifacts import write_untrained_record
    from deepfake_detect.models.predictor import read_record

    record = write_untrained_record(tmp_path, name="m", family="sklearn", artifact="model.joblib", input_size=64)
    assert record.tag is None and record.calibration is None and record.embedding_layer is None
    assert read_record(tmp_path) == record


def test_the_drift_summary_names_only_result_fields():
    assert set(SUMMARY_FIELDS) <= set(DriftResult.model_fields)
