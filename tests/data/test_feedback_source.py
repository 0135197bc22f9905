"""Labelled review crops (data.feedback_dir) are a second source of the pipeline beside the raw data:
extract lists them (manifest ``source`` = feedback), validate, clean and balance treat them like any
other source, a clip's crops stay on one side of the split, and no feedback yet is fine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from deepfake_detect.config import load_params
from deepfake_detect.faces.clip import FaceCrop
from deepfake_detect.media.images import read_rgb
from deepfake_detect.pipeline.balance import run_balance
from deepfake_detect.pipeline.clean import run_clean
from deepfake_detect.pipeline.extract import list_parts, run_extract
from deepfake_detect.pipeline.validate import run_validate
from deepfake_detect.scoring.feedback import label_item
from deepfake_detect.scoring.review import ReviewQueue

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def _params(root: Path, raw: Path):
    r = root
    return load_params(
        REPO_PARAMS,
        {
            "data": {"raw_dir": str(raw), "feedback_dir": str(r / "feedback")},
            "extract": {
                "frames_per_video": 3,
                "workers": 1,
                "crop_size": 96,
                "out_dir": str(r / "faces"),
                "parts_dir": str(r / "parts"),
                "manifest": str(r / "manifest.csv"),
                "rejects": str(r / "rejects.csv"),
            },
            "validate": {
                "manifest_report": str(r / "rep/m"),
                "split_report": str(r / "rep/s"),
                "stats": str(r / "st.csv"),
            },
            "clean": {"manifest": str(r / "clean.csv"), "dropped": str(r / "dropped.csv")},
            "balance": {"manifest": str(r / "split.csv"), "class_counts": str(r / "c.csv"), "synth_dir": str(r / "s")},
            "serve": {
                "review": {
                    "keep_crops": True,
                    "dir": str(r / "review"),
                    "margin": 0.5,
                    "audit_rate": 0.0,
                    "on_drift": False,
                }
            },
        },
    )


@pytest.fixture(scope="module")
def first_run(tiny_sample: Path, tmp_path_factory):
    root = tmp_path_factory.mktemp("feedback")
    raw = shutil.copytree(tiny_sample, root / "raw")
    params = _params(root, raw)
    manifest, _ = run_extract(params)  # no feedback folder at all: the raw data alone
    return params, manifest


def test_no_feedback_yet_is_fine(first_run):
    params, manifest = first_run
    assert not params.data.feedback_dir.exists()
    assert set(manifest["source"]) == {"dfdc_videos"} and "feedback" not in list_parts(params)
    params.data.feedback_dir.mkdir()  # an empty folder (what `dvc checkout` gives before any label)
    again, _ = run_extract(params)
    assert len(again) == len(manifest) and "feedback" not in list_parts(params)
    params.data.feedback_dir.rmdir()


def test_labelled_feedback_flows_through_validate_clean_and_balance(first_run):
    params, manifest = first_run
    queue = ReviewQueue(params)
    labelled = {}
    for k, (video, rows) in enumerate(sorted(manifest.groupby("video"))):  # each raw clip "served" again
        faces = [
            FaceCrop(int(r.frame), 0, (0, 0, 96, 96), 0.9, read_rgb(r.path), int(r.person), 0.55)
            for r in rows.itertuples()
        ]
        item = queue.consider(
            request_id=f"req{k}",
            endpoint="score_video",
            file=video,
            model_tag="m:1",
            threshold=0.5,
            score=0.55,
            faces=faces,
        )
        labelled[item.id] = rows["label"].iloc[0]
        label_item(params, item.id, labelled[item.id])

    assert "feedback" in list_parts(params)
    merged, rejects = run_extract(params)
    fb = merged[merged["source"] == "feedback"]
    assert rejects.empty, rejects.to_string()
    assert len(fb) == sum(len(i.crops) for i in queue.items())
    assert set(fb["group"]) == set(labelled) and (fb["video"] == fb["group"]).all()
    assert fb.groupby("group")["label"].first().to_dict() == labelled
    assert fb["crop_id"].str.startswith("feedback__").all() and merged["crop_id"].is_unique
    assert len(merged) - len(fb) == len(manifest)

    run_validate(params)
    kept, _ = run_clean(params)
    assert (kept["source"] == "feedback").any()
    split = run_balance(params)
    assert set(split["source"]) >= {"dfdc_videos", "feedback"}
    assert split.groupby("group")["split"].nunique().max() == 1  # a clip never straddles the split
    run_validate(params, split=True)


def test_fan_out_extracts_the_feedback_as_its_own_part(first_run):
    params, _ = first_run
    if "feedback" not in list_parts(params):
        pytest.skip("needs the labelled feedback of the previous test")
    part, _ = run_extract(params, part="feedback")
    assert (part["source"] == "feedback").all() and (part["part"] == "feedback").all()
    merged, _ = run_extract(params, merge_only=True)
    assert pd.Series(["dfdc_videos", "feedback"]).isin(merged["source"]).all()
