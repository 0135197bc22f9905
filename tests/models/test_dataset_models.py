"""Streamed tf.data input: split loading, clear errors, batch shapes, augmentation range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfake_detect.config import load_params
from deepfake_detect.models.dataset import (
    SplitError,
    class_weights,
    epoch_length,
    epoch_rows,
    load_image,
    load_split,
    make_dataset,
)

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"  # the one place defaults are written
HEAVY_AUGMENT = {"jpeg_prob": 1.0, "blur_prob": 1.0, "noise_prob": 1.0, "cutout_prob": 1.0}


def test_load_split_gives_absolute_paths_and_int_labels(split_manifest: Path):
    train = load_split(split_manifest, "train")
    assert set(train["split"]) == {"train"}
    assert set(train["y"]) == {0, 1}
    assert (train["y"] == (train["label"] == "FAKE")).all()
    assert all(Path(p).is_absolute() and Path(p).exists() for p in train["path"])


def test_bad_labels_and_missing_split_name_the_file(split_manifest: Path, tmp_path: Path):
    df = pd.read_csv(split_manifest)
    df.loc[0, "label"] = "MAYBE"
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(SplitError, match=r"bad\.csv: column label holds \['MAYBE'\]"):
        load_split(bad, "train")
    df = pd.read_csv(split_manifest)
    df[df["split"] != "val"].to_csv(bad, index=False)
    with pytest.raises(SplitError, match=r"bad\.csv: split 'val' has no rows"):
        load_split(bad, "val")
    with pytest.raises(ValueError, match="lacks column"):
        df.drop(columns=["split"]).to_csv(bad, index=False)
        load_split(bad, "train")


def test_dataset_streams_batches_in_the_served_format(split_manifest: Path):
    train = load_split(split_manifest, "train")
    ds = make_dataset(
        train["path"].tolist(),
        train["y"].to_numpy(),
        40,
        8,
        training=True,
        augment=load_params(REPO_PARAMS, {"train": {"augment": HEAVY_AUGMENT}}).train.augment,
        seed=1,
    )
    batches = list(ds)
    assert sum(int(x.shape[0]) for x, _ in batches) == len(train)
    x, y = batches[0]
    assert x.shape == (8, 40, 40, 3) and y.shape == (8, 1)
    assert float(np.min(x)) >= 0.0 and float(np.max(x)) <= 255.0
    # no augmentation: exactly what the Predictor feeds (same decode + resize)
    plain = make_dataset(train["path"].tolist()[:2], train["y"].to_numpy()[:2], 40, 2, training=False)
    x0 = next(iter(plain))[0].numpy()
    np.testing.assert_array_equal(x0[0], load_image(train["path"].iloc[0], 40))


def test_class_weights_balance_the_loss():
    w = class_weights(np.array([1, 1, 1, 0]))
    assert w[1] * 3 == pytest.approx(w[0] * 1)


def _rows(n_real_groups: int = 6, fakes_per_group: int = 3) -> pd.DataFrame:
    rows = []
    for g in range(n_real_groups):
        rows.append({"path": f"r{g}.jpg", "y": 0, "group": f"g{g}"})
        rows += [{"path": f"f{g}_{k}.jpg", "y": 1, "group": f"g{g}"} for k in range(fakes_per_group)]
    return pd.DataFrame(rows)


def test_pairs_put_each_real_beside_a_fake_of_its_own_video_drawn_afresh_each_epoch():
    train = _rows()
    rng = np.random.default_rng(0)
    epochs = [epoch_rows(train, "pairs", rng) for _ in range(6)]
    for epoch in epochs:
        assert len(epoch) == epoch_length(train, "pairs") == 12
        reals, fakes = epoch.iloc[0::2], epoch.iloc[1::2]
        assert (reals["y"] == 0).all() and (fakes["y"] == 1).all()
        assert (reals["group"].to_numpy() == fakes["group"].to_numpy()).all()
    assert len({tuple(e["path"]) for e in epochs}) > 1  # a new draw of fakes (and order) each epoch
    assert len(set().union(*(set(e["path"]) for e in epochs))) > 12  # over the run, more fakes than one draw


def test_balanced_sampling_redraws_the_larger_class_each_epoch():
    train = _rows()
    rng = np.random.default_rng(1)
    a, b = epoch_rows(train, "balanced", rng), epoch_rows(train, "balanced", rng)
    for epoch in (a, b):
        assert epoch["y"].value_counts().to_dict() == {0: 6, 1: 6} and len(epoch) == epoch_length(train, "balanced")
    assert set(a.loc[a["y"] == 1, "path"]) != set(b.loc[b["y"] == 1, "path"])
