"""clean: drop crops that would teach the model noise, and write each one with its reason.

Checks in order (a crop is dropped for the first reason that applies): unreadable, no face
(a ready crop where the detector found none), too small, near-black, over-exposed, too blurry,
exact duplicate (same bytes; a duplicate across REAL and FAKE labels drops every copy, since the
label is then meaningless), near duplicate (perceptual hash within ``phash_max_distance`` of a
kept crop of the same video and label: consecutive frames of a still shot add nothing).

Near duplicates are only looked for within one video and label: a FAKE crop and its REAL original
look almost the same by design, and those pairs are the most informative examples there are.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import imagehash
import pandas as pd
from PIL import Image
from tqdm import tqdm

from deepfake_detect.config import CleanParams, Params, QualityParams
from deepfake_detect.data.manifest import (
    DROPPED_COLUMNS,
    MANIFEST_COLUMNS,
    READY_CROP_SOURCES,
    read_manifest,
    write_csv,
)

log = logging.getLogger(__name__)


def quality_reason(row: pd.Series, qp: QualityParams) -> str | None:
    """The first per-crop quality problem of a row (manifest joined with crop stats), or None."""
    if not bool(row.get("readable", True)):
        return f"unreadable: {row.get('error') or 'not a decodable image'}"
    conf = row.get("confidence")
    if row.get("source") in READY_CROP_SOURCES and pd.notna(conf) and float(conf) == 0.0:
        return "no face detected in crop"
    if min(row["width"], row["height"]) < qp.min_side:
        return f"too small: {int(row['width'])}x{int(row['height'])} < {qp.min_side}px"
    if row["brightness"] < qp.min_brightness:
        return f"near-black: brightness {row['brightness']:.1f} < {qp.min_brightness}"
    if row["brightness"] > qp.max_brightness:
        return f"over-exposed: brightness {row['brightness']:.1f} > {qp.max_brightness}"
    if row["sharpness"] < qp.min_sharpness:
        return f"too blurry: sharpness {row['sharpness']:.1f} < {qp.min_sharpness}"
    return None


def _digest(path: str) -> str:
    return hashlib.md5(Path(path).read_bytes(), usedforsecurity=False).hexdigest()


def _phash(path: str) -> imagehash.ImageHash:
    with Image.open(path) as img:
        return imagehash.phash(img.convert("RGB"))


def find_duplicates(df: pd.DataFrame, cp: CleanParams) -> dict[int, str]:
    """Row index → reason for exact duplicates and near duplicates (same video and label)."""
    reasons: dict[int, str] = {}
    digests = pd.Series(
        {i: _digest(p) for i, p in tqdm(df["path"].items(), total=len(df), desc="hash crops", unit="crop")}
    )
    for _, idx in digests.groupby(digests).groups.items():
        if len(idx) < 2:
            continue
        rows = df.loc[list(idx)]
        if rows["label"].nunique() > 1:
            for i in idx:
                reasons[i] = f"exact duplicate with conflicting labels ({', '.join(rows['crop_id'])})"
        else:
            first = rows.index[0]
            for i in rows.index[1:]:
                reasons[i] = f"exact duplicate of {df.at[first, 'crop_id']}"
    if cp.phash_max_distance <= 0:
        return reasons
    remaining = df.drop(index=list(reasons))
    for _, rows in tqdm(remaining.groupby(["video", "label"], sort=False), desc="near duplicates", unit="video"):
        if len(rows) < 2:
            continue
        kept: list[tuple[str, imagehash.ImageHash]] = []
        for i, row in rows.iterrows():
            h = _phash(row["path"])
            match = next((cid for cid, kh in kept if h - kh <= cp.phash_max_distance), None)
            if match is None:
                kept.append((row["crop_id"], h))
            else:
                reasons[i] = f"near duplicate of {match} (phash distance <= {cp.phash_max_distance})"
    return reasons


def clean_manifest(
    manifest: pd.DataFrame, stats: pd.DataFrame, cp: CleanParams, qp: QualityParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (kept manifest, dropped rows with a ``reason`` column)."""
    df = manifest.merge(stats, on="crop_id", how="left", validate="one_to_one")
    missing = df["readable"].isna()
    if missing.any():
        raise ValueError(
            f"crop stats lack {int(missing.sum())} crop(s), e.g. {df.loc[missing, 'crop_id'].iloc[0]!r}: "
            "re-run `deepfake validate`"
        )
    reasons = {i: r for i, r in ((i, quality_reason(row, qp)) for i, row in df.iterrows()) if r}
    reasons.update(find_duplicates(df.drop(index=list(reasons)), cp))
    dropped_idx = sorted(reasons)
    dropped = df.loc[dropped_idx, MANIFEST_COLUMNS].assign(reason=[reasons[i] for i in dropped_idx])
    kept = df.drop(index=dropped_idx)[MANIFEST_COLUMNS]
    return kept, dropped


def run_clean(params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    cp = params.clean
    manifest = read_manifest(params.extract.manifest)
    stats = pd.read_csv(params.validate_.stats, dtype={"crop_id": str})
    kept, dropped = clean_manifest(manifest, stats, cp, params.quality)
    write_csv(kept, cp.manifest, MANIFEST_COLUMNS)
    write_csv(dropped, cp.dropped, DROPPED_COLUMNS)
    reasons = dropped["reason"].astype(str)  # an empty drop set reads back without a string dtype
    by_reason = reasons.str.split(":| of | \\(", regex=True).str[0].value_counts().to_dict()
    log.info(
        "clean: kept %d of %d crops (%s); dropped %d: %s → %s",
        len(kept),
        len(manifest),
        kept["label"].value_counts().to_dict(),
        len(dropped),
        by_reason,
        cp.dropped,
    )
    return kept, dropped
