"""The training benchmarks run for real, once, on the tiny split: `--help` (tests/test_bench.py) only shows
that a script imports; these would have caught the two that broke when evaluate's answer became the typed
ModelMetrics (bench/cross_dataset.py and bench/recipes.py called the old signature)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))


def test_cross_dataset_bench_trains_on_one_dataset_and_scores_the_other(split_manifest: Path, tmp_path: Path):
    import cross_dataset

    df = pd.read_csv(split_manifest)
    df["dataset"] = ["ffpp" if int(g[4:6]) % 4 == 3 else "dfdc" for g in df["group"]]  # real00.mp4 ... real11.mp4
    manifest = tmp_path / "two_datasets.csv"
    df.to_csv(manifest, index=False)
    out = tmp_path / "cross.csv"
    common = f"--manifest {manifest} --root / --epochs 1 --steps 1 --out {out}".split()
    cross_dataset.main([*common, "--variants", "both"])
    # trained on both: each is judged on its test split, and the rows of both runs share one table
    cross_dataset.main([*common, "--train-on", "dfdc,ffpp", "--variants", "whole_net"])
    table = pd.read_csv(out)
    assert table["train_on"].tolist() == ["dfdc", "dfdc+ffpp"] and table["steps"].eq("1 x 1").all()
    row = table.loc[0]
    assert row["variant"] == "both" and 0 <= row["dfdc_auc"] <= 1 and math.isfinite(row["dfdc_log_loss"])
    assert 0 <= row["ffpp_frame_auc"] <= 1 and 0 <= row["ffpp_real_videos_called_fake"] <= 1
    assert row["ffpp_videos"] == "3 REAL / 3 FAKE"
    # the unfamiliar-media test, fitted as promote fits it, flags a share of each dataset's videos
    assert 0 <= row["ffpp_videos_unfamiliar"] <= 1 and 0 <= row["dfdc_test_videos_unfamiliar"] <= 1
    assert table.loc[1, "ffpp_test_videos"] == "1 REAL / 1 FAKE" and pd.isna(table.loc[1, "ffpp_frame_auc"])


def test_recipes_bench_trains_a_variant_and_scores_it_as_evaluate_does(split_manifest: Path, tmp_path: Path):
    import recipes

    recipes.VARIANTS["tiny"] = {"warmup_epochs": 1, "epochs": 1, "steps_per_epoch": 1}
    try:
        row = recipes.run_variant("tiny", split_manifest, tmp_path / "out")
    finally:
        del recipes.VARIANTS["tiny"]
    assert 0 <= row["auc"] <= 1 and math.isfinite(row["log_loss"]) and 0 <= row["ece"] <= 1
    assert row["epochs_run"] == 2 and row["train_rows"] > 0


def test_decode_bench_scores_a_clip_beside_the_decode_floors(tmp_path: Path, repo_root: Path):
    """bench/decode.py on one small clip, 16 frames, one round, a tiny model: every way runs and the
    ratios come out (to decode all → RGB, which is 1)."""
    import decode
    import numpy as np

    from deepfake_detect.media.codec import write_clip

    sys.path.insert(0, str(ROOT / "tests" / "serving"))
    from serving_kit import build_model_folder

    rng = np.random.default_rng(0)
    write_clip(tmp_path / "clips" / "noise.mp4", [rng.integers(0, 255, (96, 128, 3), np.uint8) for _ in range(40)], 10)
    model = build_model_folder(tmp_path / "model")
    args = ["--videos", str(tmp_path / "clips"), "--min-side", "0", "--frames", "16", "--repeats", "1"]
    ratios = decode.main([*args, "--params", str(repo_root / "params.yaml"), "--model", str(model)])
    assert set(ratios) == {decode.NAIVE, decode.ALL, decode.FLOOR, "exact", "ours", decode.SCORE, decode.BEFORE}
    assert ratios[decode.NAIVE] == (1.0, 1.0) and all(w > 0 and c >= 0 for w, c in ratios.values())


def test_train_speed_bench_times_each_way_on_a_tiny_crop_folder(tmp_path: Path):
    """bench/train_speed.py on 12 crops of a deepfake-faces-layout folder, the baseline CNN at 32 px,
    one batch per measurement: every way yields a rate and the cache holds every crop it trains on."""
    import cv2
    import numpy as np
    import train_speed
    import yaml

    faces = tmp_path / "faces"
    (faces / "faces_224").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = ["videoname,original_width,original_height,label,original"]
    for i in range(6):
        for label, name, original in (("REAL", f"real{i}", ""), ("FAKE", f"fake{i}", f"real{i}.mp4")):
            cv2.imwrite(str(faces / "faces_224" / f"{name}.jpg"), rng.integers(0, 255, (64, 64, 3), np.uint8))
            rows.append(f"{name}.mp4,64,64,{label},{original}")
    (faces / "metadata.csv").write_text("\n".join(rows) + "\n")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["baseline_cnn"] |= {"input_size": 32, "batch_size": 4}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    args = ["--faces", str(faces), "--crops", "12", "--steps", "1", "--rounds", "1", "--families", "baseline_cnn"]
    rates = train_speed.main([*args, "--params", str(tmp_path / "params.yaml")])["baseline_cnn"]
    ways = ("input before", "input after", "step only", "fit before", "fit after")
    assert all(rates[w] > 0 for w in ways) and rates["cached crops"] == len(train_speed.real_crops(faces, 12))


def test_temporal_bench_compares_the_head_with_frame_aggregation(split_manifest: Path, tmp_path: Path, make_params):
    import temporal

    from deepfake_detect.pipeline.evaluate import run_evaluate
    from deepfake_detect.pipeline.promote import run_promote
    from deepfake_detect.pipeline.train import run_train

    p = make_params(tmp_path, split_manifest)
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    assert run_promote(p).promoted
    p = p.model_copy(update={"temporal": p.temporal.model_copy(update={"epochs": 2, "folds": 2})})
    rows = temporal.run(p.promote.dir, split_manifest, Path("/"), p)
    assert [(r["comparison"], r["method"]) for r in rows] == [
        ("cross-validated (all clips)", "aggregation"),
        ("cross-validated (all clips)", "temporal"),
        ("test split", "aggregation"),
        ("test split", "temporal"),
    ]
    assert all(0 <= r["video_auc"] <= 1 and math.isfinite(r["log_loss"]) for r in rows)
    assert rows[0]["videos"] == "12 REAL / 12 FAKE"


def test_ensemble_bench_compares_members_and_combinations_in_one_run(split_manifest: Path, tmp_path: Path, make_params):
    import ensemble

    from deepfake_detect.pipeline.train import run_train

    members = ["sklearn_fft", "baseline_cnn"]
    p = make_params(tmp_path, split_manifest, models=members)
    for m in members:
        run_train(p, m)
    out = tmp_path / "ensemble.csv"
    argv = ["--manifest", str(split_manifest), "--models", str(p.train.models_dir), "--members", *members]
    assert ensemble.main([*argv, "--speed-crops", "16", "--speed-rounds", "1", "--out", str(out)]) == 0
    table = pd.read_csv(out).set_index("model")
    assert list(table.index) == [*members, "ensemble", "mean_prob", "stack"]
    assert table["frame_auc"].between(0, 1).all() and table["img_s"].gt(0).all()
    assert table.loc["ensemble", "train_minutes"] == pytest.approx(table.loc[members, "train_minutes"].sum(), abs=0.1)


def test_aggregation_bench_pools_served_faces_under_every_clip_rule(tmp_path: Path):
    """bench/aggregation.py scores two labelled shared clips with a tiny model, as `deepfake score`
    does, and re-pools their faces with each clip rule: one row per rule, the clips counted once each."""
    import aggregation

    sys.path.insert(0, str(ROOT / "tests" / "serving"))
    from serving_kit import build_model_folder

    videos = ROOT.parent / "shared" / "data" / "videos"
    if not (videos / "metadata.json").is_file():
        pytest.skip(f"bench/aggregation.py scores the shared clips in {videos}, absent here")
    model = build_model_folder(tmp_path / "model")
    out = tmp_path / "rules.json"
    table = aggregation.main(["--raw-dir", str(videos), "--model", str(model), "--max-clips", "2", "--out", str(out)])
    every = table[table["dataset"] == "all"].set_index("rule")
    assert set(every.index) == set(aggregation.RULES) and (every["clips"] == 2).all()
    assert out.is_file() and set(pd.read_json(out)["rows"][0]) >= {"rule", "auc", "real_called_fake"}


def test_compression_bench_scores_each_transform_through_a_trained_model(
    split_manifest: Path, tmp_path: Path, make_params
):
    """bench/compression.py through a trained model folder: every transform is scored on the same
    crops, and a 0.5-side H.264 encode at CRF 51 moves the scores more than none."""
    import json

    import compression

    from deepfake_detect.pipeline.train import run_train

    p = make_params(tmp_path, split_manifest)
    run_train(p, "sklearn_fft")
    out = tmp_path / "compression.json"
    args = ["--model-dir", str(p.train.models_dir / "sklearn_fft"), "--manifest", str(split_manifest)]
    result = compression.main([*args, "--dataset", "dfdc", "--splits", "test", "--crf", "51", "--out", str(out)])
    assert json.loads(out.read_text()) == result
    table = {r["transform"]: r for r in result["table"]}
    assert next(iter(table)) == "as extracted" and len(table) == 5 and result["clips"] == 6
    assert all(0 <= r["frame_auc"] <= 1 and 0 <= r["video_auc"] <= 1 for r in table.values())
    plain, crushed = table["as extracted"], table["h264 crf 51, 0.5 of the side"]
    assert (plain["mean_p_real"], plain["mean_p_fake"]) != (crushed["mean_p_real"], crushed["mean_p_fake"])
