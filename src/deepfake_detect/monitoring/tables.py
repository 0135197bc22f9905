"""The two sides drift compares, as feature tables: one row per face crop with the image statistics
of :mod:`deepfake_detect.media.images`, the model's P(FAKE) (``probability``) and its compact
embedding (``emb_0..emb_k``, :meth:`Predictor.embed`).

The reference is the held-out side of the training data (``drift.reference_split`` of the split
manifest, scored by the promoted model and cached); the current window is the serving request log
(:func:`current_from_request_log`) or a folder of new media scored on the fly (:func:`current_from_media`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from deepfake_detect.config import DriftParams, ExtractParams
from deepfake_detect.contracts.drift import UnfamiliarTraffic
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.media.checks import IMAGE_SUFFIXES, media_files
from deepfake_detect.media.images import ImageReadError, crop_stats, read_rgb
from deepfake_detect.monitoring.verdict import EMBEDDING, PROBABILITY

if TYPE_CHECKING:
    from deepfake_detect.media.sampler import FrameLimits

log = logging.getLogger(__name__)

EMB_PREFIX = "emb_"


class DriftInputError(DeepfakeError, ValueError):
    """A reference or current window that cannot be compared (the message names the file or field)."""


def emb_columns(df: pd.DataFrame) -> list[str]:
    cols = [c for c in df.columns if c.startswith(EMB_PREFIX)]
    return sorted(cols, key=lambda c: int(c[len(EMB_PREFIX) :]))


def features_from_crops(predictor, crops: list[np.ndarray], extra: dict[str, list] | None = None) -> pd.DataFrame:
    """Image statistics, P(FAKE) and embedding of RGB face crops: one row per crop."""
    if not crops:
        return pd.DataFrame()
    stats = pd.DataFrame([crop_stats(c) for c in crops])
    stats[PROBABILITY] = predictor.predict(crops)
    emb = np.asarray(predictor.embed(crops), dtype=np.float64).reshape(len(crops), -1)
    emb_df = pd.DataFrame(emb, columns=[f"{EMB_PREFIX}{i}" for i in range(emb.shape[1])])
    out = pd.concat([stats, emb_df], axis=1)
    for key, values in (extra or {}).items():
        out[key] = values
    return out


def _score_in_batches(predictor, paths: list[Path], batch: int, desc: str) -> pd.DataFrame:
    frames = []
    for start in tqdm(range(0, len(paths), batch), desc=desc, unit="batch", leave=False):
        crops, names = [], []
        for path in paths[start : start + batch]:
            try:
                crops.append(read_rgb(path))
                names.append(str(path))
            except ImageReadError as exc:  # one bad file must not hide the window's drift
                log.warning("skipping %s", exc)
        if crops:
            frames.append(features_from_crops(predictor, crops, {"file": names}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def reference_from_manifest(
    manifest: str | Path, predictor, dp: DriftParams, seed: int, root: Path | None = None
) -> pd.DataFrame:
    """Score a sample of ``drift.reference_split`` crops of the split manifest with the model."""
    from deepfake_detect.data.manifest import read_manifest

    df = read_manifest(manifest, required=["crop_id", "path", "split"])
    df = df[df["split"] == dp.reference_split].drop_duplicates("crop_id")
    if len(df) < dp.min_rows:
        raise DriftInputError(
            f"{manifest}: split {dp.reference_split!r} has {len(df)} crops; the reference "
            f"needs at least drift.min_rows={dp.min_rows}"
        )
    df = df.sample(n=min(len(df), dp.reference_size), random_state=seed)
    root = root or Path.cwd()
    paths = [Path(p) if Path(p).is_absolute() else root / p for p in df["path"]]
    log.info("reference: scoring %d %s crops from %s", len(paths), dp.reference_split, manifest)
    return _score_in_batches(predictor, paths, dp.batch_size, "reference")


def load_or_build_reference(manifest: str | Path, predictor, dp: DriftParams, seed: int) -> pd.DataFrame:
    """The reference table, cached in ``drift.report_dir`` and rebuilt when the model, the manifest
    or the reference settings change (a promotion therefore refreshes it)."""
    manifest = Path(manifest)
    if not manifest.exists():
        raise DriftInputError(f"{manifest}: split manifest not found (run `dvc repro balance`)")
    key = {
        "model": str(Path(predictor.folder).resolve()),
        "model_created": predictor.record.created,
        "model_tag": predictor.tag,
        "manifest": str(manifest.resolve()),
        "manifest_mtime": manifest.stat().st_mtime,
        "split": dp.reference_split,
        "size": dp.reference_size,
        "seed": seed,
    }
    cache, meta = dp.report_dir / "reference.csv", dp.report_dir / "reference.json"
    if cache.exists() and meta.exists() and json.loads(meta.read_text()) == key:
        log.info("reference: cached %s (model %s)", cache, predictor.tag)
        return pd.read_csv(cache)
    ref = reference_from_manifest(manifest, predictor, dp, seed)
    dp.report_dir.mkdir(parents=True, exist_ok=True)
    ref.to_csv(cache, index=False)
    meta.write_text(json.dumps(key, indent=1))
    return ref


def window_bounds(days: int, end: datetime | None = None) -> tuple[datetime, datetime]:
    """The last ``days`` UTC days up to ``end`` (default: now)."""
    end = end or datetime.now(UTC)
    return end - timedelta(days=days), end


def current_from_request_log(
    log_dir: str | Path, start: datetime | None, end: datetime | None, model_tag: str | None = None
) -> pd.DataFrame:
    """The request-log window as a feature table; rows of other model tags are left out
    (their embeddings live in another space)."""
    from deepfake_detect.scoring.requestlog import read_request_log

    log_dir = Path(log_dir)
    if not log_dir.is_dir():  # no traffic yet is a state to report (insufficient data), not a failure
        log.warning("%s: request log folder not found (serving writes it; see serve.request_log_dir)", log_dir)
        return pd.DataFrame()
    df = read_request_log(log_dir, start=start, end=end)
    if df.empty:
        return pd.DataFrame()
    for col in (PROBABILITY, EMBEDDING):
        if col not in df.columns:
            raise DriftInputError(f"{log_dir}: request log has no field {col!r}")
    if model_tag is not None and "model_tag" in df.columns:
        keep = df["model_tag"].astype(str) == str(model_tag)
        if (~keep).any():
            log.warning(
                "request log: %d of %d rows from other model tags than %s left out",
                int((~keep).sum()),
                len(df),
                model_tag,
            )
        df = df[keep]
    if df.empty:
        return pd.DataFrame()
    lengths = df[EMBEDDING].map(lambda e: len(e) if isinstance(e, list | tuple | np.ndarray) else -1)
    if (lengths < 0).any() or lengths.nunique() != 1:
        raise DriftInputError(
            f"{log_dir}: field 'embedding' must be a list of floats of one length in every "
            f"record (found lengths {sorted(set(lengths.tolist()))[:5]})"
        )
    emb = np.asarray(df[EMBEDDING].tolist(), dtype=np.float64)
    emb_df = pd.DataFrame(emb, columns=[f"{EMB_PREFIX}{i}" for i in range(emb.shape[1])], index=df.index)
    return pd.concat([df.drop(columns=[EMBEDDING]), emb_df], axis=1).reset_index(drop=True)


UNFAMILIAR_FLAGS = ("unfamiliar", "too_compressed")  # the request log's per-face flags (scoring.requestlog)


def unfamiliar_traffic(current: pd.DataFrame) -> UnfamiliarTraffic | None:
    """The window's faces flagged by the release's unfamiliar-media tests, by reason; None for a table
    without the flags (media scored for the comparison, not answered by serving)."""
    if not set(UNFAMILIAR_FLAGS) <= set(current.columns):
        return None
    flags = current[list(UNFAMILIAR_FLAGS)]
    flagged = flags.eq(True)  # None (not judged) and False both count as not flagged
    return UnfamiliarTraffic(
        n_faces=len(current),
        n_judged=int(flags.notna().any(axis=1).sum()),
        unlike_faces=int(flagged["unfamiliar"].sum()),
        too_compressed=int(flagged["too_compressed"].sum()),
        either=int(flagged.any(axis=1).sum()),
    )


def _media_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise DriftInputError(f"{p}: not found")
        files += media_files(p)
    return files


def _detected_crops(frames: list, detector, ep: ExtractParams) -> list[np.ndarray]:
    """The face crops of a file's frames (``(index, rgb)`` or the sampler's frames) by the path
    extract and serving take (:func:`faces.clip.detect_and_crop`)."""
    from deepfake_detect.faces.clip import detect_and_crop

    return [f.crop for f in detect_and_crop(detector, frames, ep)]


def current_from_media(
    paths: Iterable[str | Path],
    predictor,
    ep: ExtractParams,
    dp: DriftParams,
    crops: bool = False,
    limits: FrameLimits | None = None,
) -> pd.DataFrame:
    """Score new media on the fly: face crops as they are (``crops=True``), or images and clips
    through the training path (frames sampled by the extract sampler within ``limits``, faces found
    and cropped with the extract params)."""
    from deepfake_detect.media.sampler import Sampling, iter_sample_frames  # PyAV: only for clips
    from deepfake_detect.media.video import VIDEO_SUFFIXES, VideoError

    files = _media_files(paths)
    if not files:
        raise DriftInputError(f"{', '.join(map(str, paths))}: no images or videos found")
    if crops:
        images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        return _score_in_batches(predictor, images, dp.batch_size, "current")
    from deepfake_detect.faces.detect import make_detector
    from deepfake_detect.faces.framing import framed_as_trained

    detector = make_detector(ep.detector)
    ep = framed_as_trained(ep, predictor.record.crop_margin)  # cut faces as the model's training crops were cut
    rows = []
    for f in tqdm(files, desc="current media", unit="file"):
        try:
            if f.suffix.lower() in VIDEO_SUFFIXES:
                frames = list(iter_sample_frames(f, Sampling.of(ep, dp.frames_per_video, limits)))
            else:
                frames = [(None, read_rgb(f))]
        except (VideoError, ValueError) as exc:
            log.warning("skipping %s: %s", f, exc)
            continue
        face_crops = _detected_crops(frames, detector, ep)
        if not face_crops:
            log.warning("%s: no face found", f)
            continue
        rows.append(features_from_crops(predictor, face_crops, {"file": [str(f)] * len(face_crops)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
