"""balance: a leak-free train/val/test split by group, then a balanced training side.

Split: scikit-learn's ``StratifiedGroupKFold`` assigns whole groups (a REAL clip and every FAKE
made from it) to one side, keeping the label mix of each side close to the whole. A random split
of deepfake-faces puts about a third of its test crops next to a sibling in training; this one
cannot. Val and test are never resampled: they measure the world as it is (DFDC is ~83% FAKE).

Training side, by ``balance.strategy``:
  none         keep it as is (use class weights in training instead)
  undersample  drop random majority crops down to the minority count (the seed notebook's way)
  oversample   repeat random minority crops up to the majority count
  self_blend   pseudo-fakes synthesised from REAL training crops (a face blended onto itself after
               a small warp, colour jitter and resampling: self-blended images, Shiohara & Yamasaki
               2022) fill the FAKE side: when FAKE is the minority they make up the gap; when REAL
               is the minority, FAKE is undersampled to half the REAL count and pseudo-fakes make
               up the other half, so the model also sees blending artefacts no generator taught it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from deepfake_detect.config import BalanceParams, Params
from deepfake_detect.data.manifest import (
    MANIFEST_COLUMNS,
    SPLITS,
    ManifestRow,
    SplitError,
    read_manifest,
    write_csv,
)
from deepfake_detect.data.selfblend import self_blend_crop
from deepfake_detect.media.images import read_rgb

log = logging.getLogger(__name__)
SPLIT_COLUMNS = [*MANIFEST_COLUMNS, "split"]


def _take_fold(df: pd.DataFrame, share: float, seed: int) -> pd.Series:
    """Boolean mask of one StratifiedGroupKFold fold holding ~``share`` of the rows."""
    n_groups = df["group"].nunique()
    n_splits = min(n_groups, max(2, round(1 / share)))
    if n_groups < 2:
        raise SplitError(f"only {n_groups} group(s): a group-wise split needs at least 2 source videos")
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    # the first fold whose rows hold both labels (when the data allows it)
    best = None
    for _, fold in cv.split(df, df["label"], df["group"]):
        mask = pd.Series(False, index=df.index)
        mask.iloc[fold] = True
        if df.loc[mask, "label"].nunique() == df["label"].nunique():
            return mask
        best = mask if best is None else best
    return best


def split_by_group(df: pd.DataFrame, val_size: float, test_size: float, seed: int) -> pd.Series:
    """Split name per row; every group lands on exactly one side. With several datasets (manifest
    ``dataset``) each is split on its own, so every dataset has its test and val share (a small one,
    such as FF++ beside DFDC, could otherwise land wholly in training); a group that spans datasets
    goes with the dataset holding most of its rows."""
    if df["label"].nunique() < 2:
        raise SplitError(f"only label {df['label'].iloc[0]!r} present: a detector needs REAL and FAKE crops")
    if "dataset" not in df or df["dataset"].nunique() < 2:
        return _split_one(df, val_size, test_size, seed)
    home = df.groupby("group")["dataset"].agg(lambda d: d.value_counts().index[0])
    stratum = df["group"].map(home)
    split = pd.Series("train", index=df.index)
    for name, rows in df.groupby(stratum):
        if rows["group"].nunique() < 2 or rows["label"].nunique() < 2:
            log.warning(
                "dataset %s: %d group(s), labels %s: all in train",
                name,
                rows["group"].nunique(),
                sorted(rows["label"].unique()),
            )
            continue
        split[rows.index] = _split_one(rows, val_size, test_size, seed)
    return split


def _split_one(df: pd.DataFrame, val_size: float, test_size: float, seed: int) -> pd.Series:
    split = pd.Series("train", index=df.index)
    test = _take_fold(df, test_size, seed)
    split[test] = "test"
    if val_size > 0:
        rest = df[~test]
        if rest["group"].nunique() >= 3:
            val = _take_fold(rest, val_size / (1 - test_size), seed + 1)
            split[val[val].index] = "val"
        else:
            log.warning("too few groups left for a validation split; val is empty")
    return split


def undersample(train: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    counts = train["label"].value_counts()
    n = counts.min()
    parts = [g if len(g) == n else g.sample(n=n, random_state=rng.integers(2**31)) for _, g in train.groupby("label")]
    return pd.concat(parts)


def oversample(train: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    counts = train["label"].value_counts()
    n = counts.max()
    parts = []
    for _, g in train.groupby("label"):
        parts.append(g)
        if len(g) < n:
            parts.append(g.sample(n=n - len(g), replace=True, random_state=rng.integers(2**31)))
    return pd.concat(parts)


def synthesise_fakes(
    reals: pd.DataFrame, n: int, out_dir: Path, rng: np.random.Generator, jpeg_quality: int
) -> pd.DataFrame:
    """Write ``n`` self-blended pseudo-fakes made from random REAL crops; rows keep the real's group.

    They are encoded as extract encodes crops (``extract.jpeg_quality``): a pseudo-fake compressed
    differently from the real crops would let a model tell them apart by the JPEG trace alone."""
    out_dir.mkdir(parents=True, exist_ok=True)
    picks = reals.sample(n=n, replace=n > len(reals), random_state=rng.integers(2**31))
    rows = []
    for k, (_, row) in enumerate(picks.iterrows()):
        fake = self_blend_crop(read_rgb(row["path"]), rng)
        crop_id = f"{row['crop_id']}_sbi{k}"
        path = out_dir / f"{crop_id}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(fake, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        real = {c: row[c] for c in MANIFEST_COLUMNS}
        fake = {"crop_id": crop_id, "path": str(path), "label": "FAKE", "source": "self_blend"}
        rows.append({**ManifestRow.model_validate({**real, **fake}).model_dump(), "split": row["split"]})
    return pd.DataFrame(rows)


def balance_train(train: pd.DataFrame, bp: BalanceParams, rng: np.random.Generator, jpeg_quality: int) -> pd.DataFrame:
    if bp.max_per_group:  # many crops of one clip teach that clip, not the artefacts: keep a random few
        train = train.sample(frac=1.0, random_state=rng.integers(2**31)).groupby("group").head(bp.max_per_group)
    if bp.strategy == "none":
        return train
    if bp.strategy == "undersample":
        return undersample(train, rng)
    if bp.strategy == "oversample":
        return oversample(train, rng)
    reals, fakes = train[train["label"] == "REAL"], train[train["label"] == "FAKE"]
    if len(reals) == 0:
        raise SplitError("balance.strategy self_blend needs REAL training crops to blend")
    if len(fakes) < len(reals):
        synth = synthesise_fakes(reals, len(reals) - len(fakes), bp.synth_dir, rng, jpeg_quality)
        return pd.concat([train, synth])
    keep = len(reals) - len(reals) // 2
    fakes = fakes.sample(n=min(keep, len(fakes)), random_state=rng.integers(2**31))
    synth = synthesise_fakes(reals, len(reals) - len(fakes), bp.synth_dir, rng, jpeg_quality)
    return pd.concat([reals, fakes, synth])


def class_counts(df: pd.DataFrame) -> pd.DataFrame:
    counts = df.groupby(["split", "label"]).size().rename("count").reset_index()
    counts["split_label"] = counts["split"] + " " + counts["label"]
    order = {s: i for i, s in enumerate(SPLITS)}
    return counts.sort_values(["split", "label"], key=lambda c: c.map(order) if c.name == "split" else c)


def run_balance(params: Params) -> pd.DataFrame:
    bp = params.balance
    df = read_manifest(params.clean.manifest).reset_index(drop=True)
    rng = np.random.default_rng(params.seed)
    split = split_by_group(df, bp.val_size, bp.test_size, params.seed)
    df["split"] = split
    shutil.rmtree(bp.synth_dir, ignore_errors=True)
    bp.synth_dir.mkdir(parents=True, exist_ok=True)
    train = balance_train(df[df["split"] == "train"], bp, rng, params.extract.jpeg_quality)
    out = pd.concat([train, df[df["split"] != "train"]], ignore_index=True)
    out = out.sort_values(["split", "group", "video", "crop_id"], kind="stable")
    write_csv(out, bp.manifest, SPLIT_COLUMNS)
    counts = class_counts(out)
    write_csv(counts, bp.class_counts)
    leaks = out.groupby("group")["split"].nunique().gt(1).sum()
    log.info(
        "balance (%s): %s; %d groups, %d on two sides → %s",
        bp.strategy,
        {f"{r.split}/{r.label}": r.count for r in counts.itertuples()},
        out["group"].nunique(),
        leaks,
        bp.manifest,
    )
    return out
