"""Streamed tf.data input: split loading, clear errors, batch shapes, augmentation range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfake_detect.config import load_params
from deepfake_detect.data.manifest import SplitError
from deepfake_detect.models.augment import augment_image
from deepfake_detect.models.dataset import (
    NO_BLEND,
    CropCache,
    class_weights,
    epoch_length,
    epoch_rows,
    load_blended,
    load_image,
    load_split,
    make_dataset,
    mix_datasets,
    sampled_dataset,
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


def _augment(**changes):
    return load_params(REPO_PARAMS).train.augment.model_copy(update=changes)


def test_self_blend_pairs_a_real_crop_with_a_pseudo_fake_of_itself():
    train = _rows()
    rng = np.random.default_rng(2)
    every = epoch_rows(train, "pairs", rng, _augment(self_blend=1.0, min_dataset_share=0.0))
    reals, fakes = every.iloc[0::2], every.iloc[1::2]
    assert (fakes["y"] == 1).all() and (fakes["path"].to_numpy() == reals["path"].to_numpy()).all()
    assert (fakes["blend"] != NO_BLEND).all() and (reals["blend"] == NO_BLEND).all()
    none = epoch_rows(train, "pairs", rng, _augment(self_blend=0.0, min_dataset_share=0.0))
    assert (none["blend"] == NO_BLEND).all() and none.iloc[1::2]["path"].str.startswith("f").all()
    some = epoch_rows(train, "balanced", rng, _augment(self_blend=0.5, min_dataset_share=0.0))
    blended = some[some["blend"] != NO_BLEND]
    assert len(blended) == 3 and (blended["y"] == 1).all() and blended["path"].str.startswith("r").all()
    assert some["y"].value_counts().to_dict() == {0: 6, 1: 6}


def test_small_datasets_are_repeated_up_to_their_share():
    big = _rows(n_real_groups=20).assign(dataset="dfdc")
    small = _rows(n_real_groups=1).assign(dataset="ffpp", group="h0")
    train = pd.concat([big, small], ignore_index=True)
    mixed = mix_datasets(train, 0.25, np.random.default_rng(0))
    assert ((mixed["dataset"] == "ffpp") & (mixed["y"] == 0)).sum() == int(np.ceil(0.25 * 21))
    assert ((mixed["dataset"] == "ffpp") & (mixed["y"] == 1)).sum() == int(np.ceil(0.25 * 63))
    assert (mixed["dataset"] == "dfdc").sum() == len(big)
    assert mix_datasets(big, 0.25, np.random.default_rng(0)) is big  # one dataset: as it is
    epoch = epoch_rows(train, "pairs", np.random.default_rng(1), _augment(self_blend=0.0, min_dataset_share=0.25))
    assert (epoch.iloc[0::2]["dataset"] == "ffpp").mean() > 0.15  # one REAL of 21 without mixing


def test_a_pseudo_fake_is_blended_when_loaded(split_manifest: Path):
    path = load_split(split_manifest, "train")["path"].iloc[0]
    plain = load_blended(path, 48, NO_BLEND)
    np.testing.assert_array_equal(plain, load_image(path, 48))
    a, b = load_blended(path, 48, 7), load_blended(path, 48, 7)
    np.testing.assert_array_equal(a, b)  # the seed decides the blend
    assert np.abs(a - plain).max() > 5 and np.abs(load_blended(path, 48, 8) - a).max() > 0


def test_downscale_augmentation_softens_detail():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    img = tf.constant(rng.integers(0, 255, (64, 64, 3)).astype(np.float32))
    off = _augment(flip=False, brightness=0.0, contrast=0.0, jpeg_prob=0.0, h264_prob=0.0)
    off = off.model_copy(update={"blur_prob": 0.0, "noise_prob": 0.0})
    same = augment_image(img, off.model_copy(update={"downscale_prob": 0.0}), seed=1).numpy()
    np.testing.assert_allclose(same, img.numpy())
    soft = augment_image(img, off.model_copy(update={"downscale_prob": 1.0, "downscale_range": (0.3, 0.3)}), seed=1)
    assert soft.shape == (64, 64, 3) and np.std(soft.numpy()) < 0.8 * np.std(img.numpy())


def test_crop_cache_gives_the_decoded_pixels_and_keeps_within_its_budget(split_manifest: Path):
    paths = load_split(split_manifest, "train")["path"].tolist()[:3]
    cache = CropCache(48, max_mb=1)
    for _ in range(2):  # decoded the first time, from memory the second: the same float32 pixels
        for path in paths:
            np.testing.assert_array_equal(cache.load(path), load_image(path, 48))
    assert len(cache) == 3
    full = CropCache(48, max_mb=0)  # no room: every read decodes, nothing is kept
    np.testing.assert_array_equal(full.load(paths[0]), load_image(paths[0], 48))
    assert len(full) == 0


def test_cached_training_stream_is_the_uncached_one(split_manifest: Path):
    """Same seed, same rows, same pseudo-fakes (blended from the crop file), same pixels: the cache
    changes where a crop comes from, never what the model sees."""
    train = load_split(split_manifest, "train")
    still = {"flip": False, "brightness": 0.0, "contrast": 0.0, "downscale_prob": 0.0, "jpeg_prob": 0.0}
    still |= {"h264_prob": 0.0}
    still |= {"blur_prob": 0.0, "noise_prob": 0.0, "cutout_prob": 0.0, "self_blend": 0.5}  # half the FAKEs blended
    aug = load_params(REPO_PARAMS, {"train": {"augment": still}}).train.augment  # no random op: comparable
    cache = CropCache(40, max_mb=64)

    def batches(c: CropCache | None) -> list[np.ndarray]:
        ds = sampled_dataset(train, "pairs", 40, 8, augment=aug, seed=3, cache=c)
        return [x.numpy() for x, _ in ds.take(6)]

    plain = batches(None)
    for cached in (batches(cache), batches(cache)):  # filling the cache, then reading it
        for a, b in zip(plain, cached, strict=True):
            np.testing.assert_array_equal(a, b)
    assert len(cache) > 0
    with pytest.raises(ValueError, match="48-px crops"):
        sampled_dataset(train, "pairs", 40, 8, augment=aug, seed=3, cache=CropCache(48, max_mb=1))


def test_h264_round_trip_compresses_like_a_platform_and_keeps_the_shape():
    """What a clip's face looks like after a platform re-encodes it with H.264: the same size (odd
    sides too), smoothed more at a higher CRF, the same pixels for the same input."""
    from deepfake_detect.media.codec import h264_round_trip

    rng = np.random.default_rng(0)
    base = np.kron(rng.integers(0, 255, (13, 15, 3)), np.ones((5, 5, 1))).astype(np.uint8)  # 65 x 75: odd sides
    base = np.clip(base.astype(int) + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)
    light, heavy = h264_round_trip(base, 20), h264_round_trip(base, 45)
    assert light.shape == heavy.shape == base.shape and light.dtype == np.uint8

    def error(x: np.ndarray) -> float:
        return float(np.abs(x.astype(int) - base).mean())

    assert 0 < error(light) < error(heavy)
    np.testing.assert_array_equal(h264_round_trip(base, 45), heavy)


def test_h264_augmentation_re_encodes_in_the_crf_range():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    img = np.kron(rng.integers(0, 255, (8, 8, 3)), np.ones((8, 8, 1))).astype(np.float32)  # 64 x 64 blocks
    img = tf.constant(np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.float32))
    off = _augment(flip=False, brightness=0.0, contrast=0.0, jpeg_prob=0.0, blur_prob=0.0, noise_prob=0.0)
    off = off.model_copy(update={"downscale_prob": 0.0, "cutout_prob": 0.0, "h264_prob": 0.0})
    np.testing.assert_allclose(augment_image(img, off, seed=1).numpy(), img.numpy())
    encoded = augment_image(img, off.model_copy(update={"h264_prob": 1.0, "h264_crf": (44, 44)}), seed=1).numpy()
    from deepfake_detect.media.codec import h264_round_trip

    expected = h264_round_trip(np.clip(np.rint(img.numpy()), 0, 255).astype(np.uint8), 44)
    assert encoded.shape == (64, 64, 3)
    np.testing.assert_allclose(encoded, expected.astype(np.float32))
    assert np.abs(encoded - img.numpy()).mean() > 3


def test_h264_augmentation_can_encode_the_face_at_its_size_in_the_frame():
    """A face is smaller in a compressed frame than the crop cut from it (FF++ faces: 64-290 px of a
    224-px crop): ``h264_scale`` encodes the crop at that fraction of its side, then resizes it back,
    which loses more than encoding the full-size crop at the same CRF."""
    import tensorflow as tf

    from deepfake_detect.media.codec import h264_round_trip

    rng = np.random.default_rng(2)
    img = np.kron(rng.integers(0, 255, (8, 8, 3)), np.ones((8, 8, 1))).astype(np.float32)
    img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.float32)
    off = _augment(flip=False, brightness=0.0, contrast=0.0, jpeg_prob=0.0, blur_prob=0.0, noise_prob=0.0)
    on = off.model_copy(update={"downscale_prob": 0.0, "cutout_prob": 0.0, "h264_prob": 1.0, "h264_crf": (36, 36)})
    small = augment_image(tf.constant(img), on.model_copy(update={"h264_scale": (0.5, 0.5)}), seed=1).numpy()
    full = augment_image(tf.constant(img), on.model_copy(update={"h264_scale": (1.0, 1.0)}), seed=1).numpy()
    pixels = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    np.testing.assert_allclose(small, h264_round_trip(pixels, 36, scale=0.5).astype(np.float32))
    np.testing.assert_allclose(full, h264_round_trip(pixels, 36).astype(np.float32))
    assert small.shape == (64, 64, 3)
    assert np.abs(small - img).mean() > np.abs(full - img).mean()


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("h264_crf", [40, 20]),
        ("h264_crf", [20, 60]),
        ("jpeg_quality", [95, 50]),
        ("downscale_range", [0.05, 0.9]),
        ("h264_scale", [0.5, 1.2]),
    ],
)
def test_augment_ranges_are_checked_naming_the_field(field: str, bad: list[float]):
    with pytest.raises(ValueError, match=rf"train\.augment\.{field}: .*need .* <= low <= high <= "):
        load_params(REPO_PARAMS, {"train": {"augment": {field: bad}}})
