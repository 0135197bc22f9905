"""Streamed input from the split manifest: a ``tf.data`` pipeline over file paths that decodes,
resizes, augments, batches and prefetches, so the dataset is never held in memory whole.

Decoding and resizing go through the same code as serving (``imagestats.read_rgb`` and
``predictor.resize_batch``), so a crop looks the same to the model in training and production.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_detect.config import AugmentParams
from deepfake_detect.data.manifest import SPLITS, label_to_int, read_manifest
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.media.images import read_rgb, resize_batch

SPLIT_COLUMNS = ["crop_id", "path", "video", "label", "group", "split"]


class SplitError(DeepfakeError, ValueError):
    """The split manifest cannot feed training or evaluation (the message names file and split)."""


def load_split(manifest: str | Path, split: str, root: str | Path = ".") -> pd.DataFrame:
    """Rows of one split with absolute ``path`` and an int ``y`` (FAKE = 1)."""
    if split not in SPLITS:
        raise SplitError(f"unknown split {split!r} (use one of {', '.join(SPLITS)})")
    df = read_manifest(manifest, required=SPLIT_COLUMNS)
    bad = sorted(set(df["label"].dropna()) - {"REAL", "FAKE"})
    if bad or df["label"].isna().any():
        raise SplitError(f"{manifest}: column label holds {bad or ['<empty>']}, expected REAL or FAKE")
    part = df[df["split"] == split].copy()
    if part.empty:
        raise SplitError(f"{manifest}: split {split!r} has no rows")
    root = Path(root)
    part["path"] = [str(p if Path(p).is_absolute() else root / p) for p in part["path"]]
    part["y"] = [label_to_int(v) for v in part["label"]]
    return part.reset_index(drop=True)


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Inverse-frequency weights, n / (2 * n_class): each class carries half the loss."""
    y = np.asarray(y)
    n = len(y)
    return {c: float(n / (2 * max(int((y == c).sum()), 1))) for c in (0, 1)}


def load_image(path: str, size: int) -> np.ndarray:
    """One crop as float32 (size, size, 3) RGB in 0..255, exactly as the Predictor feeds it."""
    return resize_batch([read_rgb(path)], size)[0]


def steps_for(n: int, batch_size: int, cap: int) -> int:
    steps = math.ceil(n / batch_size)
    return min(steps, cap) if cap else steps


def make_dataset(
    paths: list[str],
    labels: np.ndarray,
    input_size: int,
    batch_size: int,
    *,
    training: bool,
    augment: AugmentParams | None = None,
    seed: int | None = None,
    repeat: bool = False,
    sample_weights: np.ndarray | None = None,
):
    """A ``tf.data.Dataset`` of (images float32 0..255, labels float32[, weights]) batches, streamed
    from files. A training dataset (shuffled, augmented) needs the run's ``seed``; val and test use none."""
    import tensorflow as tf

    if training and seed is None:
        raise ValueError("make_dataset: a training dataset is shuffled and needs the run's seed (params seed)")

    y = np.asarray(labels, np.float32).reshape(-1, 1)
    if sample_weights is not None:
        ds = tf.data.Dataset.from_tensor_slices((list(paths), y, np.asarray(sample_weights, np.float32)))
    else:
        ds = tf.data.Dataset.from_tensor_slices((list(paths), y))
    if training:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return _decode_and_batch(ds, input_size, batch_size, augment if training else None, seed)


def _decode_and_batch(ds, input_size: int, batch_size: int, augment: AugmentParams | None, seed: int):
    """(path, label) elements → decoded, resized (and augmented) image batches, prefetched."""
    import tensorflow as tf

    def _load(path):
        return load_image(path.numpy().decode(), input_size)

    def _map(path, label, *weight):
        img = tf.py_function(_load, [path], tf.float32)
        img.set_shape((input_size, input_size, 3))
        if augment is not None:
            img = augment_image(img, augment, seed)
        return (img, label, *weight)

    ds = ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def epoch_rows(train: pd.DataFrame, sampling: str, rng: np.random.Generator) -> pd.DataFrame:
    """The training rows of one epoch, in order, drawn afresh each call.

    ``as_split``: every row, shuffled. ``balanced``: every crop of the smaller class and as many
    random crops of the larger one (a new draw each epoch, so over the run the model sees the
    whole larger class instead of one fixed undersample). ``pairs``: each REAL crop directly
    followed by a random FAKE of its own group (a fake made from that very video when the data
    has one), so a batch holds a real face beside its forgery and the model learns the difference
    rather than the identity; pairs are shuffled, never split."""
    seed = int(rng.integers(2**31))
    if sampling == "as_split":
        return train.sample(frac=1.0, random_state=seed)
    reals, fakes = train[train["y"] == 0], train[train["y"] == 1]
    if reals.empty or fakes.empty:
        raise SplitError(f"train.*.sampling={sampling} needs REAL and FAKE training crops")
    if sampling == "balanced":
        n = min(len(reals), len(fakes))
        picked = [reals.sample(n=n, random_state=seed), fakes.sample(n=n, random_state=seed + 1)]
        return pd.concat(picked).sample(frac=1.0, random_state=seed + 2)
    if sampling != "pairs":
        raise ValueError(f"unknown sampling {sampling!r} (as_split | balanced | pairs)")
    reals = reals.sample(frac=1.0, random_state=seed)
    by_group = {g: idx.to_numpy() for g, idx in fakes.groupby("group").groups.items()}
    all_fakes = fakes.index.to_numpy()
    partner = [rng.choice(by_group.get(g, all_fakes)) for g in reals["group"]]
    order = np.column_stack([reals.index.to_numpy(), np.asarray(partner)]).reshape(-1)
    return train.loc[order]


def epoch_length(train: pd.DataFrame, sampling: str) -> int:
    """Rows in one epoch of :func:`epoch_rows` (fixed, so every epoch has the same steps)."""
    n_real, n_fake = int((train["y"] == 0).sum()), int((train["y"] == 1).sum())
    return {"as_split": len(train), "balanced": 2 * min(n_real, n_fake), "pairs": 2 * n_real}[sampling]


def sampled_dataset(
    train: pd.DataFrame,
    sampling: str,
    input_size: int,
    batch_size: int,
    *,
    augment: AugmentParams | None,
    seed: int,
) -> object:
    """An endless training stream whose every epoch is :func:`epoch_rows` drawn afresh (an epoch
    is :func:`epoch_length` rows)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def rows():
        while True:
            epoch = epoch_rows(train, sampling, rng)
            for path, y in zip(epoch["path"], epoch["y"], strict=True):
                yield path, np.float32([y])

    spec = (tf.TensorSpec((), tf.string), tf.TensorSpec((1,), tf.float32))
    ds = tf.data.Dataset.from_generator(rows, output_signature=spec)
    return _decode_and_batch(ds, input_size, batch_size, augment, seed)


def augment_image(img, aug: AugmentParams, seed: int):
    """Flip, small rotation, brightness/contrast, JPEG re-encoding, blur, noise and cutout on one
    float32 0..255 image (graph ops, so they run inside the tf.data pipeline)."""
    import tensorflow as tf

    size = tf.shape(img)[0]

    def chance(p: float):
        return tf.random.uniform([], seed=seed) < p

    if aug.flip:
        img = tf.image.random_flip_left_right(img, seed=seed)
    if aug.rotation_deg > 0:
        angle = tf.random.uniform([], -aug.rotation_deg, aug.rotation_deg, seed=seed) * math.pi / 180
        img = _rotate(img, angle)
    if aug.brightness > 0:
        img = img + tf.random.uniform([], -aug.brightness, aug.brightness, seed=seed) * 255.0
    if aug.contrast > 0:
        mean = tf.reduce_mean(img)
        img = (img - mean) * tf.random.uniform([], 1 - aug.contrast, 1 + aug.contrast, seed=seed) + mean
    img = tf.clip_by_value(img, 0.0, 255.0)
    if aug.jpeg_prob > 0:
        lo, hi = aug.jpeg_quality
        img = tf.cond(
            chance(aug.jpeg_prob),
            lambda: tf.image.random_jpeg_quality(img / 255.0, lo, max(hi, lo + 1), seed=seed) * 255.0,
            lambda: img,
        )
    if aug.blur_prob > 0:
        img = tf.cond(chance(aug.blur_prob), lambda: _blur3(img), lambda: img)
    if aug.noise_prob > 0 and aug.noise_std > 0:
        img = tf.cond(
            chance(aug.noise_prob),
            lambda: img + tf.random.normal(tf.shape(img), stddev=aug.noise_std, seed=seed),
            lambda: img,
        )
    if aug.cutout_prob > 0:
        img = tf.cond(chance(aug.cutout_prob), lambda: _cutout(img, size, aug.cutout_frac, seed), lambda: img)
    img = tf.clip_by_value(img, 0.0, 255.0)
    img.set_shape((None, None, 3))
    return img


def _rotate(img, angle):
    import tensorflow as tf

    shape = tf.shape(img)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    cos, sin = tf.cos(angle), tf.sin(angle)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # output pixel (x, y) samples input (cos*x + sin*y + a, -sin*x + cos*y + b): rotation about the centre
    transform = tf.stack([cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy, 0.0, 0.0])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=img[None],
        transforms=transform[None],
        output_shape=shape[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    return out[0]


def _blur3(img):
    import tensorflow as tf

    k = tf.constant([1.0, 2.0, 1.0])
    kernel = tf.tensordot(k, k, axes=0) / 16.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, 3, 1])
    return tf.nn.depthwise_conv2d(img[None], kernel, [1, 1, 1, 1], "SAME")[0]


def _cutout(img, size, frac: float, seed: int):
    import tensorflow as tf

    side = tf.maximum(1, tf.cast(tf.cast(size, tf.float32) * frac, tf.int32))
    y0 = tf.random.uniform([], 0, size - side + 1, dtype=tf.int32, seed=seed)
    x0 = tf.random.uniform([], 0, size - side + 1, dtype=tf.int32, seed=seed)
    rows = tf.range(size)[:, None]
    cols = tf.range(size)[None, :]
    inside = (rows >= y0) & (rows < y0 + side) & (cols >= x0) & (cols < x0 + side)
    return img * tf.cast(~inside, tf.float32)[:, :, None]
