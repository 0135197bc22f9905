"""Streamed input from the split manifest: a ``tf.data`` pipeline over file paths that decodes,
resizes, augments, batches and prefetches, so the dataset is never held in memory whole.

A run's :class:`CropCache` keeps each crop once it is decoded and resized (uint8, ``input_size``
square: exactly the pixels the stream would decode again), up to ``train.cache_mb``; later epochs,
the second training phase and every validation pass read memory instead of JPEG files. Augmentation
runs after the cache, so every epoch still draws its own; self-blended pseudo-fakes are made from
the full-size crop file as before (the blend happens before the resize).

Decoding and resizing go through the same code as serving (``imagestats.read_rgb`` and
``predictor.resize_batch``), so a crop looks the same to the model in training and production.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_detect.config import AugmentParams
from deepfake_detect.data.manifest import SPLITS, SplitError, label_to_int, read_manifest
from deepfake_detect.data.selfblend import self_blend_crop
from deepfake_detect.media.images import read_rgb, resize_batch
from deepfake_detect.models.augment import augment_image

SPLIT_COLUMNS = ["crop_id", "path", "video", "label", "group", "split"]


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


class CropCache:
    """A run's decoded, resized crops (uint8: :func:`load_image` resizes uint8 pixels, so nothing
    is lost), filled as the stream first reads each one, up to ``max_mb`` (0: no cache)."""

    def __init__(self, size: int, max_mb: int):
        self.size, self.max_bytes = size, max_mb * 2**20
        self._crops: dict[str, np.ndarray] = {}
        self._bytes = 0

    def load(self, path: str) -> np.ndarray:
        """:func:`load_image` of ``path``, from memory after the first time."""
        crop = self._crops.get(path)
        if crop is None:
            image = load_image(path, self.size)
            if self._bytes + image.size <= self.max_bytes:  # one byte per uint8 value
                self._crops[path] = image.astype(np.uint8)
                self._bytes += image.size
            return image
        return crop.astype(np.float32)

    def __len__(self) -> int:
        return len(self._crops)


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
    cache: CropCache | None = None,
):
    """A ``tf.data.Dataset`` of (images float32 0..255, labels float32[, weights]) batches, streamed
    from files (through ``cache`` when given). A training dataset (shuffled, augmented) needs the
    run's ``seed``; val and test use none."""
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
    return _decode_and_batch(ds, input_size, batch_size, augment if training else None, seed, cache=cache)


def _decode_and_batch(
    ds,
    input_size: int,
    batch_size: int,
    augment: AugmentParams | None,
    seed: int,
    *,
    blended: bool = False,
    cache: CropCache | None = None,
):
    """(path, label[, weight | blend seed]) elements → decoded, resized (self-blended, augmented)
    image batches of (image, label[, weight]), prefetched."""
    import tensorflow as tf

    if cache is not None and cache.size != input_size:
        raise ValueError(f"the crop cache holds {cache.size}-px crops, the dataset wants {input_size}")
    load = cache.load if cache is not None else lambda path: load_image(path, input_size)

    def _load(path):
        return load(path.numpy().decode())

    def _load_blended(path, blend):
        seed_ = int(blend.numpy())
        if seed_ == NO_BLEND:
            return load(path.numpy().decode())
        return load_blended(path.numpy().decode(), input_size, seed_)

    def _map(path, label, *extra):
        if blended:
            img = tf.py_function(_load_blended, [path, extra[0]], tf.float32)
            extra = ()
        else:
            img = tf.py_function(_load, [path], tf.float32)
        img.set_shape((input_size, input_size, 3))
        if augment is not None:
            img = augment_image(img, augment, seed)
        return (img, label, *extra)

    ds = ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


NO_BLEND = -1  # the blend seed of a row that is not a pseudo-fake


def mix_datasets(train: pd.DataFrame, min_share: float, rng: np.random.Generator) -> pd.DataFrame:
    """``train`` with the REAL (and the FAKE) rows of each dataset (manifest ``dataset``) that hold
    less than ``min_share`` of their class repeated (drawn with replacement) up to that share, so a
    small source (18 REAL FF++ people beside 7,500 DFDC ones) still shapes what the model learns.
    One dataset: unchanged."""
    if min_share <= 0 or "dataset" not in train or train["dataset"].nunique() < 2:
        return train
    extra = []
    for _, rows in train.groupby(["y", "dataset"]):
        want = mixed_size(len(rows), int((train["y"] == rows["y"].iloc[0]).sum()), min_share) - len(rows)
        if want > 0:
            extra.append(rows.sample(n=want, replace=True, random_state=int(rng.integers(2**31))))
    return pd.concat([train, *extra]) if extra else train


def mixed_size(n_rows: int, n_total: int, min_share: float) -> int:
    """Rows a dataset of ``n_rows`` (of ``n_total``) has after :func:`mix_datasets`."""
    return max(n_rows, math.ceil(min_share * n_total)) if min_share > 0 else n_rows


def epoch_rows(
    train: pd.DataFrame, sampling: str, rng: np.random.Generator, aug: AugmentParams | None = None
) -> pd.DataFrame:
    """The training rows of one epoch, in order, drawn afresh each call, with a ``blend`` column:
    a seed for a self-blended pseudo-fake made from that (REAL) row's crop, or ``NO_BLEND``.

    ``as_split``: every row, shuffled. ``balanced``: every crop of the smaller class and as many
    random crops of the larger one (a new draw each epoch, so over the run the model sees the
    whole larger class instead of one fixed undersample). ``pairs``: each REAL crop directly
    followed by a random FAKE of its own group (a fake made from that very video when the data
    has one), so a batch holds a real face beside its forgery and the model learns the difference
    rather than the identity; pairs are shuffled, never split.

    With ``aug`` (augmenting families): small datasets are first repeated up to
    ``aug.min_dataset_share`` (:func:`mix_datasets`), and ``aug.self_blend`` of the FAKE examples
    (``pairs``, ``balanced``) are pseudo-fakes blended from a REAL crop (its own, in a pair)."""
    seed = int(rng.integers(2**31))
    if aug is not None:
        train = mix_datasets(train, aug.min_dataset_share, rng)
    blend_share = aug.self_blend if aug is not None else 0.0
    if sampling == "as_split":
        return train.sample(frac=1.0, random_state=seed).assign(blend=NO_BLEND)
    reals, fakes = train[train["y"] == 0], train[train["y"] == 1]
    if reals.empty or fakes.empty:
        raise SplitError(f"train.*.sampling={sampling} needs REAL and FAKE training crops")
    if sampling == "balanced":
        n = min(len(reals), len(fakes))
        n_blend = round(n * blend_share)
        picked = [
            reals.sample(n=n, random_state=seed).assign(blend=NO_BLEND),
            fakes.sample(n=n - n_blend, random_state=seed + 1).assign(blend=NO_BLEND),
            _pseudo_fakes(reals.sample(n=n_blend, replace=True, random_state=seed + 3), rng),
        ]
        return pd.concat(picked).sample(frac=1.0, random_state=seed + 2)
    if sampling != "pairs":
        raise ValueError(f"unknown sampling {sampling!r} (as_split | balanced | pairs)")
    reals = reals.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    fakes = fakes.reset_index(drop=True)
    by_group = {g: idx.to_numpy() for g, idx in fakes.groupby("group").groups.items()}
    all_fakes = fakes.index.to_numpy()
    partners = fakes.loc[[rng.choice(by_group.get(g, all_fakes)) for g in reals["group"]]].assign(blend=NO_BLEND)
    partners = partners.reset_index(drop=True)
    blended = rng.random(len(reals)) < blend_share
    if blended.any():
        partners.loc[blended] = _pseudo_fakes(reals[blended], rng)[partners.columns].to_numpy()
    reals = reals.assign(blend=NO_BLEND)
    return pd.concat([reals, partners]).sort_index(kind="stable").reset_index(drop=True)


def _pseudo_fakes(reals: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """FAKE examples to be self-blended from these REAL crops on the fly (a fresh seed each)."""
    return reals.assign(y=1, blend=rng.integers(0, 2**31, size=len(reals)))


def epoch_length(train: pd.DataFrame, sampling: str) -> int:
    """Rows in one epoch of :func:`epoch_rows` over the data as it is (fixed, so every epoch has the
    same steps; the stream is endless, so repeated small datasets only change what an epoch holds)."""
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
    cache: CropCache | None = None,
) -> object:
    """An endless training stream whose every epoch is :func:`epoch_rows` drawn afresh (an epoch
    is :func:`epoch_length` rows); pseudo-fake rows are blended when their crop is loaded."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def rows():
        while True:
            epoch = epoch_rows(train, sampling, rng, augment)
            for path, y, blend in zip(epoch["path"], epoch["y"], epoch["blend"], strict=True):
                yield path, np.float32([y]), np.int64(blend)

    spec = (tf.TensorSpec((), tf.string), tf.TensorSpec((1,), tf.float32), tf.TensorSpec((), tf.int64))
    ds = tf.data.Dataset.from_generator(rows, output_signature=spec)
    return _decode_and_batch(ds, input_size, batch_size, augment, seed, blended=True, cache=cache)


def load_blended(path: str, size: int, blend_seed: int) -> np.ndarray:
    """:func:`load_image`, self-blended first when ``blend_seed`` is not ``NO_BLEND``."""
    rgb = read_rgb(path)
    if blend_seed != NO_BLEND:
        rgb = self_blend_crop(rgb, np.random.default_rng(blend_seed))
    return resize_batch([rgb], size)[0]
