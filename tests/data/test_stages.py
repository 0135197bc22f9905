"""extract → validate → clean → balance on tiny data: each stage's logic and its bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfake_detect.config import load_params
from deepfake_detect.data.manifest import MANIFEST_COLUMNS, SplitError, read_manifest, write_csv
from deepfake_detect.data.selfblend import self_blend_crop
from deepfake_detect.pipeline.balance import run_balance, split_by_group
from deepfake_detect.pipeline.clean import run_clean
from deepfake_detect.pipeline.extract import run_extract
from deepfake_detect.pipeline.validate import ValidationFailed, run_validate

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"  # the one place defaults are written

FAST_EXTRACT = {"frames_per_video": 3, "workers": 1, "crop_size": 96}


@pytest.fixture(scope="module")
def extracted(tiny_sample: Path, tmp_path_factory):
    """The tiny sample plus every kind of bad file, extracted once for the module."""

    root = tmp_path_factory.mktemp("extract")
    raw = root / "raw"
    shutil.copytree(tiny_sample, raw)
    meta = json.loads((raw / "metadata.json").read_text())
    good = sorted(raw.glob("*.mp4"))[0]
    (raw / "empty.mp4").write_bytes(b"")
    (raw / "notavideo.mp4").write_text("<html>404 not found</html>" * 10)
    (raw / "truncated.mp4").write_bytes(good.read_bytes()[:600])
    blank = [np.full((180, 240, 3), 90, np.uint8) for _ in range(6)]
    from deepfake_detect.media.codec import write_clip

    write_clip(raw / "noface.mp4", blank, fps=10)
    for name in ("empty.mp4", "notavideo.mp4", "truncated.mp4", "noface.mp4"):
        meta[name] = {"label": "REAL", "split": "train", "original": None}
    (raw / "metadata.json").write_text(json.dumps(meta))
    params = load_params(
        REPO_PARAMS,
        {
            "data": {"raw_dir": str(raw)},
            "extract": {
                **FAST_EXTRACT,
                "out_dir": str(root / "faces"),
                "parts_dir": str(root / "parts"),
                "manifest": str(root / "manifest.csv"),
                "rejects": str(root / "rejects.csv"),
            },
            "validate": {
                "manifest_report": str(root / "reports/manifest"),
                "split_report": str(root / "reports/split"),
                "stats": str(root / "stats.csv"),
            },
            "clean": {"manifest": str(root / "clean.csv"), "dropped": str(root / "dropped.csv")},
            "balance": {
                "manifest": str(root / "split.csv"),
                "class_counts": str(root / "counts.csv"),
                "synth_dir": str(root / "synth"),
                "strategy": "undersample",
            },
        },
    )
    manifest, rejects = run_extract(params)
    return params, manifest, rejects


def test_extract_finds_faces_in_every_good_clip_and_rejects_bad_ones(extracted):
    params, manifest, rejects = extracted
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert manifest["video"].nunique() == 6  # every generated clip
    assert (manifest["confidence"] >= params.extract.face_threshold).all()
    assert manifest["crop_id"].is_unique
    reasons = dict(zip(rejects["video"], rejects["reason"], strict=True))
    assert "empty file" in reasons["empty.mp4"]
    assert "not a readable video" in reasons["notavideo.mp4"]
    assert "no face found" in reasons["noface.mp4"]
    assert "truncated.mp4" in reasons  # too short to hold a frame: rejected, not a crash
    for path in manifest["path"]:
        img = cv2.imread(path)
        assert img is not None and img.shape == (96, 96, 3)
    fakes = manifest[manifest["label"] == "FAKE"]
    assert set(fakes["group"]) <= set(manifest.loc[manifest["label"] == "REAL", "video"])


def test_one_part_then_merge(extracted):
    params, manifest, _ = extracted
    part_csv = params.extract.parts_dir / "root.csv"
    assert len(pd.read_csv(part_csv)) == len(manifest)
    merged, _ = run_extract(params, merge_only=True)
    assert merged["crop_id"].tolist() == manifest["crop_id"].tolist()


def test_validate_clean_balance_chain(extracted):
    params, manifest, _ = extracted
    outcome = run_validate(params)
    assert outcome.success
    assert (params.validate_.manifest_report / "data_docs" / "index.html").exists()
    result = json.loads((params.validate_.manifest_report / "result.json").read_text())
    assert result["success"] and result["evaluated"] > 20
    kept, dropped = run_clean(params)
    assert len(kept) + len(dropped) == len(manifest)
    split = run_balance(params)
    assert split.groupby("group")["split"].nunique().max() == 1
    train = split[split["split"] == "train"]
    counts = train["label"].value_counts()
    assert counts["REAL"] == counts["FAKE"]  # undersampled
    assert run_validate(params, split=True).success


def test_validate_stops_on_a_wrong_label_and_names_the_row(extracted, tmp_path):
    params, manifest, _ = extracted
    bad = manifest.copy()
    bad.loc[bad.index[0], "label"] = "fake?"
    path = tmp_path / "bad_manifest.csv"
    write_csv(bad, path)
    p = params.model_copy(
        update={
            "extract": params.extract.model_copy(update={"manifest": path}),
            "validate_": params.validate_.model_copy(
                update={"manifest_report": tmp_path / "r", "stats": tmp_path / "s.csv"}
            ),
        }
    )
    with pytest.raises(ValidationFailed) as err:
        run_validate(p)
    msg = str(err.value)
    assert "expect_column_values_to_be_in_set" in msg and "'label'" in msg
    assert bad.loc[bad.index[0], "crop_id"] in msg


def test_soft_expectations_report_without_stopping(extracted, tmp_path):
    params, _, _ = extracted
    p = params.model_copy(
        update={
            "validate_": params.validate_.model_copy(
                update={"manifest_report": tmp_path / "r", "stats": tmp_path / "s.csv"}
            ),
            "quality": params.quality.model_copy(update={"min_sharpness": 1e9}),
        }
    )
    outcome = run_validate(p)
    assert outcome.success and any(f["column"] == "sharpness" for f in outcome.soft_failures)


def test_split_suite_catches_a_group_on_two_sides(extracted, tmp_path):
    params, _, _ = extracted
    split = read_manifest(params.balance.manifest, required=["split"])
    leaked = split.copy()
    test_group = leaked.loc[leaked["split"] == "test", "group"].iloc[0]
    idx = leaked.index[leaked["group"] == test_group][0]
    leaked.loc[idx, "split"] = "train"
    path = tmp_path / "leak.csv"
    write_csv(leaked, path)
    p = params.model_copy(
        update={
            "balance": params.balance.model_copy(update={"manifest": path}),
            "validate_": params.validate_.model_copy(update={"split_report": tmp_path / "split"}),
        }
    )
    with pytest.raises(ValidationFailed, match="group_splits"):
        run_validate(p, split=True)


def _write(path: Path, img: np.ndarray) -> str:
    cv2.imwrite(str(path), img)
    return str(path)


def test_clean_drops_bad_crops_with_reasons(tmp_path, workspace):
    params = workspace(
        extract={"manifest": "m.csv"},
        validate={"stats": "s.csv", "manifest_report": "r"},
        clean={"manifest": "c.csv", "dropped": "d.csv"},
    )
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    rows = []

    def add(crop_id, img, label="REAL", video=None, raw_bytes=None, source="dfdc_videos", confidence=0.99):
        path = tmp_path / f"{crop_id}.jpg"
        if raw_bytes is not None:
            path.write_bytes(raw_bytes)
        else:
            cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 100])
        rows.append(
            {
                "crop_id": crop_id,
                "path": str(path),
                "video": video or f"{crop_id}.mp4",
                "part": ".",
                "frame": 0,
                "person": 0,
                "x": 0,
                "y": 0,
                "w": 128,
                "h": 128,
                "confidence": confidence,
                "label": label,
                "group": video or f"{crop_id}.mp4",
                "dataset": "dfdc",
                "source": source,
            }
        )

    add("good", texture)
    add("dark", np.full((128, 128, 3), 3, np.uint8))
    add("bright", np.full((128, 128, 3), 252, np.uint8))
    from skimage import data as skdata

    face = cv2.resize(skdata.astronaut()[0:200, 150:300, ::-1], (128, 128), interpolation=cv2.INTER_AREA)
    add("blurry", cv2.GaussianBlur(face, (0, 0), 4))  # an out-of-focus face
    add("dim_face", (face * 0.25).astype(np.uint8))  # a sharp face in dim light: kept
    add("tiny", cv2.resize(texture, (32, 32)))
    add("broken", None, raw_bytes=b"\xff\xd8 not really a jpeg")
    add("copy", None, raw_bytes=(tmp_path / "good.jpg").read_bytes(), video="good.mp4")
    other = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    add("pair_real", other, video="p.mp4")
    add("pair_fake", None, raw_bytes=(tmp_path / "pair_real.jpg").read_bytes(), label="FAKE", video="q.mp4")
    add("faceless", rng.integers(0, 255, (128, 128, 3), dtype=np.uint8), source="deepfake_faces", confidence=0.0)
    write_csv(pd.DataFrame(rows), "m.csv", MANIFEST_COLUMNS)
    run_validate_stats_only(params)
    kept, dropped = run_clean(params)
    reasons = dict(zip(dropped["crop_id"], dropped["reason"], strict=True))
    assert kept["crop_id"].tolist() == ["good", "dim_face"]
    assert reasons["dark"].startswith("near-black")
    assert reasons["bright"].startswith("over-exposed")
    assert reasons["blurry"].startswith("too blurry")
    assert reasons["tiny"].startswith("too small")
    assert reasons["broken"].startswith("unreadable") and "broken.jpg" in reasons["broken"]
    assert reasons["copy"] == "exact duplicate of good"
    assert "conflicting labels" in reasons["pair_real"] and "conflicting labels" in reasons["pair_fake"]
    assert reasons["faceless"] == "no face detected in crop"
    assert pd.read_csv("d.csv")["reason"].notna().all()


def run_validate_stats_only(params):
    """Crop stats as the validate stage writes them (the GX suite itself is tested above)."""
    from deepfake_detect.pipeline.validate import compute_crop_stats

    write_csv(compute_crop_stats(read_manifest(params.extract.manifest)), params.validate_.stats)


def _split_frame(n_groups: int, fakes_per_group: int = 3) -> pd.DataFrame:
    rows = []
    for g in range(n_groups):
        rows.append({"crop_id": f"r{g}", "label": "REAL", "group": f"g{g}"})
        rows += [{"crop_id": f"f{g}_{k}", "label": "FAKE", "group": f"g{g}"} for k in range(fakes_per_group)]
    return pd.DataFrame(rows)


def test_group_split_never_leaks_and_is_deterministic():
    df = _split_frame(40)
    a = split_by_group(df, 0.15, 0.2, seed=1)
    b = split_by_group(df, 0.15, 0.2, seed=1)
    assert a.equals(b)
    assert df.assign(split=a).groupby("group")["split"].nunique().max() == 1
    shares = a.value_counts(normalize=True)
    assert 0.1 < shares["test"] < 0.3 and 0.05 < shares["val"] < 0.3
    for name in ("train", "val", "test"):
        assert set(df.loc[a == name, "label"]) == {"REAL", "FAKE"}


def test_every_dataset_gets_its_own_test_and_val_share():
    """A small dataset beside a big one (FF++ beside DFDC) is split on its own: it cannot land wholly
    in training by chance, and a group spanning both goes with the dataset holding most of its rows."""
    big = _split_frame(200).assign(dataset="dfdc")
    small = _split_frame(8).assign(dataset="ffpp", group=lambda d: "ff" + d["group"])
    bridge = pd.DataFrame([{"crop_id": "bridge", "label": "FAKE", "group": "ffg0", "dataset": "dfdc"}])
    df = pd.concat([big, small, bridge], ignore_index=True)
    for seed in range(5):
        split = split_by_group(df, 0.15, 0.2, seed=seed)
        assert df.assign(split=split).groupby("group")["split"].nunique().max() == 1
        for name in ("dfdc", "ffpp"):
            sides = split[(df["dataset"] == name) & (df["crop_id"] != "bridge")]
            assert {"train", "test", "val"} <= set(sides), (seed, name, sides.value_counts())


def test_split_rejects_single_class_and_single_group():
    with pytest.raises(SplitError, match="only label"):
        split_by_group(pd.DataFrame({"crop_id": ["a", "b"], "label": ["FAKE"] * 2, "group": ["x", "y"]}), 0.1, 0.2, 0)
    with pytest.raises(SplitError, match="group"):
        split_by_group(_split_frame(1), 0.1, 0.2, 0)


def test_max_per_group_caps_training_crops():
    from deepfake_detect.pipeline.balance import balance_train

    train = _split_frame(6, fakes_per_group=9)
    bp = load_params(REPO_PARAMS, {"balance": {"strategy": "none", "max_per_group": 4}}).balance
    capped = balance_train(train, bp, np.random.default_rng(0), jpeg_quality=95)
    assert capped.groupby("group").size().max() == 4 and capped["group"].nunique() == 6


@pytest.mark.parametrize("strategy", ["oversample", "self_blend"])
def test_balancing_strategies(extracted, tmp_path, strategy):
    params, _, _ = extracted
    p = params.model_copy(
        update={
            "balance": params.balance.model_copy(
                update={
                    "strategy": strategy,
                    "manifest": tmp_path / "split.csv",
                    "class_counts": tmp_path / "counts.csv",
                    "synth_dir": tmp_path / "synth",
                }
            )
        }
    )
    out = run_balance(p)
    train = out[out["split"] == "train"]
    counts = train["label"].value_counts()
    assert counts["REAL"] == counts["FAKE"]
    assert out.groupby("group")["split"].nunique().max() == 1
    if strategy == "self_blend":
        synth = train[train["source"] == "self_blend"]
        assert len(synth) > 0 and all(Path(x).exists() for x in synth["path"])
        assert set(synth["group"]) <= set(train["group"])
    counts_csv = pd.read_csv(tmp_path / "counts.csv")
    assert set(counts_csv.columns) >= {"split", "label", "count"}


def test_self_blend_changes_only_the_face_region():
    rng = np.random.default_rng(0)
    img = np.random.default_rng(1).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    out = self_blend_crop(img, rng)
    diff = np.abs(out.astype(int) - img.astype(int)).sum(axis=2)
    assert diff[40:60, 40:60].mean() > 5 * max(1.0, diff[:6, :6].mean())
