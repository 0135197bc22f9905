"""Part folders (Kaggle's ``dfdc_train_part_*``): groups, crop ids, stale parts and orphan fakes.

A tiny two-part DFDC layout is built from the embedded sample's clips (renamed as each test
needs). Face detection is stubbed with one fixed box per frame: these tests are about what
extract does with parts, not about finding faces (test_stages covers that with MTCNN)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from deepfake_detect.config import Params, load_params
from deepfake_detect.data.manifest import read_manifest
from deepfake_detect.data.sources import list_clips
from deepfake_detect.faces.box import Face
from deepfake_detect.pipeline import extract as extract_stage

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"  # the one place defaults are written

PART_A, PART_B = "dfdc_train_part_0", "dfdc_train_part_1"


class BoxDetector:
    """Stands in for MTCNN: one confident face in the middle of every frame."""

    name = "box"
    crop_canvas = 1.0

    def detect_batch(self, images: list[np.ndarray], min_size: int | None = None) -> list[list[Face]]:
        faces = []
        for im in images:
            h, w = im.shape[:2]
            faces.append([Face(w // 3, h // 4, w // 3, h // 2, 0.99)])
        return faces


def make_parts(sample: Path, raw: Path, layout: dict[str, dict[str, dict]]) -> Path:
    """``layout``: part -> {clip name: metadata record}; each clip is a copy of a sample clip."""
    sources = sorted(sample.glob("*.mp4"))
    k = 0
    for part, records in layout.items():
        (raw / part).mkdir(parents=True)
        for name in records:
            shutil.copy(sources[k % len(sources)], raw / part / name)
            k += 1
        (raw / part / "metadata.json").write_text(json.dumps(records))
    return raw


def real() -> dict:
    return {"label": "REAL", "split": "train", "original": None}


def fake(original: str | None) -> dict:
    return {"label": "FAKE", "split": "train", "original": original}


@pytest.fixture
def parts_params(tmp_path: Path, monkeypatch) -> Params:
    """Params whose raw folder and extract outputs live in tmp_path; detection stubbed."""
    monkeypatch.setattr(extract_stage, "make_detector", lambda *a, **k: BoxDetector())
    root = tmp_path
    return load_params(
        REPO_PARAMS,
        {
            "data": {"raw_dir": str(root / "raw")},
            "extract": {
                "frames_per_video": 2,
                "workers": 1,
                "crop_size": 64,
                "min_face_size": 20,
                "out_dir": str(root / "faces"),
                "parts_dir": str(root / "parts"),
                "manifest": str(root / "manifest.csv"),
                "rejects": str(root / "rejects.csv"),
            },
        },
    )


def test_a_fake_and_its_original_in_two_parts_share_one_group(tiny_sample: Path, tmp_path: Path):
    # FaceForensics++ naming: the fake names "002.mp4", the real clip is stored as "ffpp_002.mp4"
    raw = make_parts(
        tiny_sample,
        tmp_path / "raw",
        {
            PART_A: {"ffpp_002_001.mp4": fake("002.mp4")},
            PART_B: {"ffpp_002.mp4": real()},
        },
    )
    every, _ = list_clips(raw)
    one_part, _ = list_clips(raw, part=PART_A)  # what a fanned-out extract task sees
    groups = {c.video: c.group for c in every}
    assert groups["ffpp_002_001.mp4"] == groups["ffpp_002.mp4"] == "ffpp_002.mp4"
    assert [c.group for c in one_part] == ["ffpp_002.mp4"]


def test_a_fake_without_original_is_rejected_with_a_warning(tiny_sample: Path, tmp_path: Path, caplog):
    raw = make_parts(
        tiny_sample,
        tmp_path / "raw",
        {
            PART_A: {"orphan.mp4": fake(None), "r.mp4": real(), "f.mp4": fake("r.mp4")},
        },
    )
    with caplog.at_level(logging.WARNING, logger="deepfake_detect.data.sources"):
        clips, rejects = list_clips(raw)
    assert {c.video for c in clips} == {"r.mp4", "f.mp4"}
    [reject] = rejects
    assert reject.video == "orphan.mp4" and reject.part == PART_A
    assert "no 'original'" in reject.reason
    assert "orphan.mp4" in caplog.text


def test_same_clip_name_in_two_parts_gives_distinct_crop_ids(tiny_sample: Path, parts_params: Params):
    make_parts(
        tiny_sample,
        parts_params.data.raw_dir,
        {
            PART_A: {"same.mp4": real(), "a.mp4": fake("same.mp4")},
            PART_B: {"same.mp4": real()},
        },
    )
    manifest, rejects = extract_stage.run_extract(parts_params)
    assert len(rejects) == 0
    assert manifest["crop_id"].is_unique
    assert set(manifest["part"]) == {PART_A, PART_B}
    for part, crop_id in zip(manifest["part"], manifest["crop_id"], strict=True):
        assert crop_id.startswith(f"{part}__")
    for path in manifest["path"]:
        assert Path(path).exists()


def test_merge_after_a_part_left_the_data_drops_its_stale_manifest(tiny_sample: Path, parts_params: Params):
    raw = make_parts(
        tiny_sample,
        parts_params.data.raw_dir,
        {
            PART_A: {"a.mp4": real()},
            PART_B: {"b.mp4": real()},
        },
    )
    for part in (PART_A, PART_B):  # the retrain DAG: one task per part, then the merge
        extract_stage.run_extract(parts_params, part=part)
    merged, _ = extract_stage.run_extract(parts_params, merge_only=True)
    assert set(merged["part"]) == {PART_A, PART_B}

    shutil.rmtree(raw / PART_B)  # the next data version no longer has part 1
    extract_stage.run_extract(parts_params, part=PART_A)
    merged, rejects = extract_stage.run_extract(parts_params, merge_only=True)
    assert set(merged["part"]) == {PART_A}
    assert set(read_manifest(parts_params.extract.manifest)["video"]) == {"a.mp4"}
    assert PART_B not in set(rejects["part"])
    assert not (parts_params.extract.parts_dir / f"{PART_B}.csv").exists()
    assert not (parts_params.extract.out_dir / PART_B).exists()


def test_merge_names_a_part_that_was_never_extracted(tiny_sample: Path, parts_params: Params):
    make_parts(tiny_sample, parts_params.data.raw_dir, {PART_A: {"a.mp4": real()}, PART_B: {"b.mp4": real()}})
    extract_stage.run_extract(parts_params, part=PART_A)
    with pytest.raises(FileNotFoundError, match=PART_B):
        extract_stage.run_extract(parts_params, merge_only=True)
