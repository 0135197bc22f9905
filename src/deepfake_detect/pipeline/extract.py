"""extract: clips → N sampled frames → faces → crops + manifest (one row per crop).

Runs per part folder (``--part``: the unit a scheduler fans out over workers) and merges the
part manifests of the parts the raw folder holds now (a part manifest left by a part that is no
longer in the data is deleted, with its crops). A crop id starts with its part, so clips with the
same name in two parts never collide. Clips are processed in a process pool (every core by default); each worker builds
its detector once. A bad clip (empty, truncated, not a video, no face) becomes a row in the
rejects file with its reason, and the stage goes on. Ready face-crop datasets (Kaggle
deepfake-faces) pass through the same manifest; with ``verify_ready_crops`` the detector scores
each crop so clean can drop crops with no face. The labelled review crops of ``data.feedback_dir``
(same layout) are one more part, ``feedback`` (manifest ``source`` = feedback); none is fine.

One module on purpose, past the ~300-line guide: one stage over three layouts and the fan-out by part
(list, extract one part, merge); splitting it would split the stage the DAG and dvc.yaml name.
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import pandas as pd
from tqdm import tqdm

from deepfake_detect.config import ExtractParams, Params
from deepfake_detect.data.identity import identity_groups
from deepfake_detect.data.manifest import (
    FACES_SOURCE,
    MANIFEST_COLUMNS,
    REJECT_COLUMNS,
    VIDEO_SOURCE,
    ManifestRow,
    write_csv,
)
from deepfake_detect.data.sources import (
    ROOT_PART,
    Clip,
    ReadyCrop,
    Reject,
    detect_layout,
    list_clips,
    list_ready_crops,
    part_file_stem,
    source_parts,
)
from deepfake_detect.faces.box import Detector, on_canvas
from deepfake_detect.faces.clip import assign_people, detect_and_crop, in_original_pixels
from deepfake_detect.faces.detect import face_settings, find_faces_batch, make_detector
from deepfake_detect.faces.framing import face_in_crop
from deepfake_detect.media.images import ImageReadError, read_rgb
from deepfake_detect.media.sampler import FrameLimits, Sampling, iter_sample_frames
from deepfake_detect.media.video import VideoError, probe

log = logging.getLogger(__name__)

FEEDBACK_PART = "feedback"  # the part name of the labelled review crops (data.feedback_dir)
_worker_detector: Detector | None = None
_worker_params: ExtractParams | None = None


@dataclass
class ClipResult:
    rows: list[dict]
    reject: Reject | None


def _init_worker(params: ExtractParams, single_thread: bool) -> None:
    """Build the detector once per process; one TF thread each when processes share the cores."""
    global _worker_detector, _worker_params
    if single_thread:
        os.environ["OMP_NUM_THREADS"] = "1"
        cv2.setNumThreads(1)
        if params.detector == "mtcnn":
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
    _worker_params = params
    threads = 1 if single_thread else None
    _worker_detector = make_detector(params.detector, threads=threads)


def extract_clip(
    clip: Clip, p: ExtractParams, detector: Detector, out_dir: Path, limits: FrameLimits | None = None
) -> ClipResult:
    """Sample frames of one clip, find, crop and track its faces (:mod:`..clipfaces`, the path serving
    takes), write the crops; a failure (a frame over ``limits`` too) becomes a reject."""
    try:
        # the sampler serving uses too: only what is scored is decoded, every decoded frame checked
        frames = list(iter_sample_frames(clip.path, Sampling.of(p, p.frames_per_video, limits)))
        width = probe(clip.path).width
    except VideoError as exc:
        return ClipResult([], Reject(clip.video, clip.part, str(clip.path), exc.reason))
    rows = []
    stem = crop_stem(clip)
    faces = in_original_pixels(detect_and_crop(detector, frames, p), frames[0].rgb.shape[1], width)
    for face in assign_people(faces, p):
        crop_id = f"{stem}_f{face.frame:04d}_{face.face}"
        path = out_dir / f"{crop_id}.jpg"
        bgr = cv2.cvtColor(face.crop, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, p.jpeg_quality]):
            raise OSError(f"{path}: could not write crop")
        x, y, w, h = face.box
        rows.append(
            ManifestRow(
                crop_id=crop_id,
                path=str(path),
                video=clip.video,
                part=clip.part,
                frame=face.frame,
                person=face.person,
                x=x,
                y=y,
                w=w,
                h=h,
                confidence=face.confidence,
                label=clip.label,
                group=clip.group,
                dataset=clip.dataset,
                source=VIDEO_SOURCE,
            ).model_dump()
        )
    if not rows:
        reason = f"no face found in {len(frames)} sampled frames"
        return ClipResult([], Reject(clip.video, clip.part, str(clip.path), reason))
    return ClipResult(rows, None)


def crop_stem(clip: Clip) -> str:
    """``<part>__<video stem>``: the start of every crop id of a clip (unique across parts)."""
    return f"{part_file_stem(clip.part)}__{Path(clip.video).stem}"


def _extract_clip_in_worker(clip: Clip, out_dir: Path, limits: FrameLimits) -> ClipResult:
    assert _worker_detector is not None and _worker_params is not None
    return extract_clip(clip, _worker_params, _worker_detector, out_dir, limits)


Row = tuple[dict | None, Reject | None]
Frames = tuple[pd.DataFrame, pd.DataFrame]


def verify_ready_crops(crops: list[ReadyCrop], p: ExtractParams, detector: Detector | None) -> list[Row]:
    """Manifest rows for ready face crops; with a detector, its best score per crop (0 = no face
    scoring ``extract.min_confidence``), the crop on the detector's canvas (:func:`faces.on_canvas`).

    A face smaller than a third of a face crop is not the crop's face, which also bounds the
    detector's search (and its cost). Same-sized crops share one batched detector call."""
    images: list = []
    out: list[Row] = []
    for crop in crops:
        try:
            images.append(read_rgb(crop.path))
        except ImageReadError as exc:
            images.append(None)
            out.append((None, Reject(crop.video, ROOT_PART, str(crop.path), str(exc).split(": ", 1)[-1])))
            continue
        out.append((None, None))
    readable = [i for i, im in enumerate(images) if im is not None]
    scores: dict[int, float] = {}
    boxes: dict[int, tuple[int, int, int, int]] = {}  # no detector: the whole crop is the face
    if detector is not None and readable:
        side = min(min(images[i].shape[:2]) for i in readable)
        settings = {**face_settings(p), "min_face_size": max(p.min_face_size, side // 3), "max_faces": 1}
        canvas = detector.crop_canvas  # every ready crop is a close-up: straight onto the canvas
        tight = [on_canvas(images[i], canvas) for i in readable]
        found = find_faces_batch(detector, tight, **settings, close_up_retry=False)
        scores = {i: round(f[0].confidence, 5) if f else 0.0 for i, f in zip(readable, found, strict=True)}
        boxes = {i: face_in_crop(f[0], images[i], canvas) for i, f in zip(readable, found, strict=True) if f}
    for i in readable:
        crop, (h, w) = crops[i], images[i].shape[:2]
        x, y, bw, bh = boxes.get(i, (0, 0, w, h))  # the face in the crop (framing.crop_margin reads it)
        out[i] = (
            ManifestRow(
                crop_id=Path(crop.video).stem,
                path=str(crop.path),
                video=crop.video,
                part=ROOT_PART,
                frame=-1,
                person=0,
                x=x,
                y=y,
                w=bw,
                h=bh,
                confidence=scores.get(i, float("nan")),  # NaN: no detector scored it
                label=crop.label,
                group=crop.group,
                dataset=crop.dataset,
                source=FACES_SOURCE,
            ).model_dump(),
            None,
        )
    return out


def _verify_in_worker(crops: list[ReadyCrop]) -> list[Row]:
    assert _worker_params is not None
    return verify_ready_crops(crops, _worker_params, _worker_detector)


def _workers(p: ExtractParams) -> int:
    return p.workers or os.cpu_count() or 1


def _map(func, items: list, p: ExtractParams, desc: str, *args) -> list:
    """Run func over items, in a spawn-started process pool when more than one worker is asked for."""
    n = min(_workers(p), max(1, len(items)))
    if n == 1:
        _init_worker(p, single_thread=False)
        return [func(item, *args) for item in tqdm(items, desc=desc, unit="item")]
    with ProcessPoolExecutor(n, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(p, True)) as pool:
        chunks = max(1, min(4, len(items) // (n * 8)))  # small chunks: a live progress bar
        it = pool.map(func, items, *([a] * len(items) for a in args), chunksize=chunks)
        return list(tqdm(it, total=len(items), desc=desc, unit="item"))


def extract_part(params: Params, part: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Extract one part folder of a DFDC-layout dataset; writes its part manifest and rejects."""
    p = params.extract
    clips, rejects = list_clips(params.data.raw_dir, part)
    out_dir = p.out_dir / part_file_stem(part)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    log.info(
        "part %s: %d clips listed, %d rejected by metadata; sampling %d frames each with %s",
        part,
        len(clips),
        len(rejects),
        p.frames_per_video,
        p.detector,
    )
    limits = FrameLimits.of(params.serve)  # the decoded-frame checks serving applies
    results = _map(_extract_clip_in_worker, clips, p, f"extract {part}", out_dir, limits)
    rows = [r for res in results for r in res.rows]
    rejects += [res.reject for res in results if res.reject is not None]
    return _write_part(p, part, rows, rejects)


def extract_ready_crops(params: Params, part: str = ROOT_PART) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pass a face-crop dataset (the raw folder, or its part folder) through to the manifest
    (optionally scoring each crop for a face)."""
    folder = params.data.raw_dir if part == ROOT_PART else params.data.raw_dir / part
    rows, rejects = _ready_crop_rows(params.extract, folder, f"deepfake-faces {part}")
    if part != ROOT_PART:
        rows = [{**row, "part": part} for row in rows]
        rejects = [Reject(r.video, part, r.path, r.reason) for r in rejects]
    return _write_part(params.extract, part, rows, rejects)


def has_feedback(params: Params) -> bool:
    """Whether ``data.feedback_dir`` holds labelled crops (absent, empty or header-only: no labels yet)."""
    meta = params.data.feedback_dir / "metadata.csv"
    return meta.is_file() and len(pd.read_csv(meta, usecols=["videoname"])) > 0


def extract_feedback(params: Params) -> Frames:
    """The labelled review crops (:mod:`..review`) as the ``feedback`` part: ready crops whose ``video``
    is the served request's clip, which is also their group."""
    rows, rejects = _ready_crop_rows(params.extract, params.data.feedback_dir, "feedback")
    moved = {"part": FEEDBACK_PART, "source": "feedback", "dataset": "feedback"}
    rows = [
        ManifestRow.model_validate(
            {**row, **moved, "crop_id": f"{FEEDBACK_PART}__{row['crop_id']}", "video": row["group"]}
        ).model_dump()
        for row in rows
    ]
    rejects = [Reject(r.video, FEEDBACK_PART, r.path, r.reason) for r in rejects]
    return _write_part(params.extract, FEEDBACK_PART, rows, rejects)


def _ready_crop_rows(p: ExtractParams, folder: Path, what: str) -> tuple[list[dict], list[Reject]]:
    crops, rejects = list_ready_crops(folder)
    log.info(
        "%s: %d crops listed, %d rejected by metadata; verify faces: %s",
        what,
        len(crops),
        len(rejects),
        p.verify_ready_crops,
    )
    batches = [crops[i : i + p.verify_batch] for i in range(0, len(crops), p.verify_batch)]
    if p.verify_ready_crops:
        results = [row for batch in _map(_verify_in_worker, batches, p, "verify crops") for row in batch]
    else:
        batches = tqdm(batches, desc="list crops", unit="batch")
        results = [row for batch in batches for row in verify_ready_crops(batch, p, None)]
    rows = [row for row, _ in results if row is not None]
    rejects += [rej for _, rej in results if rej is not None]
    return rows, rejects


def _write_part(p: ExtractParams, part: str, rows: list[dict], rejects: list[Reject]) -> Frames:
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS).sort_values(["video", "frame", "crop_id"])
    rej = pd.DataFrame([r.__dict__ for r in rejects], columns=REJECT_COLUMNS)
    stem = part_file_stem(part)
    write_csv(manifest, p.parts_dir / f"{stem}.csv", MANIFEST_COLUMNS)
    write_csv(rej, p.parts_dir / f"{stem}.rejects.csv", REJECT_COLUMNS)
    for r in rejects:
        log.warning("rejected %s: %s", r.path, r.reason)
    log.info(
        "part %s: %d crops from %d sources, %d rejected", part, len(manifest), manifest["video"].nunique(), len(rej)
    )
    return manifest, rej


def merge_parts(params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate the manifests of the parts in the raw folder now into the files the next stages read.

    A part manifest whose part left the raw folder is deleted (with its rejects and crops) instead
    of merged; a part of the raw folder with no manifest is an error naming it."""
    p = params.extract
    expected = {part_file_stem(part) for part in list_parts(params)}
    found = {f.stem for f in p.parts_dir.glob("*.csv") if not f.name.endswith(".rejects.csv")}
    for stale in sorted(found - expected):
        _drop_part(p, stale)
    missing = sorted(expected - found)
    if missing:
        raise FileNotFoundError(
            f"{p.parts_dir}: no part manifest for {', '.join(missing)} of "
            f"{params.data.raw_dir} (run `deepfake extract --part <part>` or `deepfake extract`)"
        )
    manifests = [p.parts_dir / f"{stem}.csv" for stem in sorted(expected)]
    frames = [pd.read_csv(f, dtype={"crop_id": str, "video": str, "group": str, "part": str}) for f in manifests]
    manifest = pd.concat(frames, ignore_index=True)
    manifest["group"] = identity_groups(manifest["video"].tolist(), manifest["group"].tolist())
    dupes = manifest["crop_id"][manifest["crop_id"].duplicated()]
    if len(dupes):
        raise ValueError(f"{p.parts_dir}: crop_id {dupes.iloc[0]!r} appears in two part manifests")
    reject_files = [f.with_name(f.stem + ".rejects.csv") for f in manifests]
    rejects = pd.concat(
        [pd.read_csv(f, dtype=str) for f in reject_files if f.exists()] or [pd.DataFrame(columns=REJECT_COLUMNS)],
        ignore_index=True,
    )
    write_csv(manifest, p.manifest, MANIFEST_COLUMNS)
    write_csv(rejects, p.rejects, REJECT_COLUMNS)
    log.info(
        "manifest %s: %d crops from %d sources (%s); %d rejects in %s",
        p.manifest,
        len(manifest),
        manifest["video"].nunique(),
        manifest["label"].value_counts().to_dict(),
        len(rejects),
        p.rejects,
    )
    return manifest, rejects


def _drop_part(p: ExtractParams, stem: str) -> None:
    """Delete a stale part's manifest, rejects and crops (its part folder left the raw data)."""
    log.warning("part %s is no longer in the raw data: deleting %s and its crops", stem, p.parts_dir / f"{stem}.csv")
    (p.parts_dir / f"{stem}.csv").unlink()
    (p.parts_dir / f"{stem}.rejects.csv").unlink(missing_ok=True)
    shutil.rmtree(p.out_dir / stem, ignore_errors=True)


def run_extract(params: Params, part: str | None = None, merge_only: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stage: every part (or one, for fan-out), then the merge (skipped for a single part)."""
    p = params.extract
    if merge_only:
        return merge_parts(params)
    if part == FEEDBACK_PART:
        return extract_feedback(params)
    raw = params.data.raw_dir
    layouts = _part_layouts(params)
    if part is not None:
        if part not in layouts:
            raise ValueError(f"{raw}: no part {part!r} (parts: {', '.join(layouts) or 'none'})")
        return _extract_one(params, part, layouts[part])
    _clear_parts(p)
    for name, layout in layouts.items():
        _extract_one(params, name, layout)
    if has_feedback(params):
        extract_feedback(params)
    return merge_parts(params)


def _extract_one(params: Params, part: str, layout: str) -> Frames:
    """One part: face crops pass through, clips are sampled and cut."""
    return extract_ready_crops(params, part) if layout == FACES_SOURCE else extract_part(params, part)


def _part_layouts(params: Params) -> dict[str, str]:
    """Part name → layout of the raw folder (``data.layout`` forces one layout where it is not ``auto``)."""
    parts = source_parts(params.data.raw_dir)
    if not parts:
        detect_layout(params.data.raw_dir)  # raises, naming what was looked for
    forced = params.data.layout
    return {name: (layout if forced == "auto" else forced) for name, _, layout in parts}


def _clear_parts(p: ExtractParams) -> None:
    """A full run starts from empty part folders: no stale part from an earlier dataset survives."""
    shutil.rmtree(p.parts_dir, ignore_errors=True)
    shutil.rmtree(p.out_dir, ignore_errors=True)
    p.parts_dir.mkdir(parents=True, exist_ok=True)
    p.out_dir.mkdir(parents=True, exist_ok=True)


def list_parts(params: Params) -> list[str]:
    """Part names of the raw folder, then ``feedback`` when there are labelled review crops (what a
    scheduler maps extract over)."""
    parts = list(_part_layouts(params))
    if FEEDBACK_PART in parts:
        raise ValueError(f"{params.data.raw_dir}: a part folder named {FEEDBACK_PART!r} is reserved for the feedback")
    return [*parts, FEEDBACK_PART] if has_feedback(params) else parts
