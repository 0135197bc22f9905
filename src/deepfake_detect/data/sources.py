"""Raw data layouts: auto-detect them and list what they hold, with groups and datasets resolved.

``data.raw_dir`` is one source folder, or a folder of them: every sub-folder with a layout of its
own is a *part* (Kaggle's ``dfdc_train_part_*``, or ``deepfake-faces/``, ``videos/``, ``ffpp-c23/``
side by side as in ``../shared/data``), so one run trains on several sources at once.

* ``dfdc_videos``: one or more folders of clips with ``metadata.json``
  (``{"x.mp4": {"label": "FAKE", "split": "train", "original": "y.mp4"}}``), flat or as
  Kaggle's ``dfdc_train_part_*`` sub-folders. The embedded sample uses this layout too.
* ``deepfake_faces``: Kaggle "deepfake-faces": ``metadata.csv``
  (``videoname,original_width,original_height,label,original``) + ``faces_224/<stem>.jpg``. The group
  is ``original`` where a row names one (a FAKE's real clip; in the review feedback set, written by
  :mod:`.review`, every row's served clip, REAL ones too), else the row's own ``videoname``.

Problems (unknown label, a listed file that is missing, a clip with no metadata, a FAKE with no
``original``) become :class:`Reject` records naming the file and the reason; they never stop the
listing. A FAKE's ``original`` is resolved against every part, even when one part is listed: a
fake and its original stored in two parts share one group.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from deepfake_detect.data.identity import dataset_of
from deepfake_detect.data.manifest import FACES_SOURCE, LABELS, VIDEO_SOURCE
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.media.video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

ROOT_PART = "."
NO_ORIGINAL = "FAKE with no 'original': the real clip it derives from (its group) is unknown, so a split could leak it"


@dataclass(frozen=True)
class Clip:
    path: Path
    video: str  # file name, e.g. "abc.mp4"
    part: str  # sub-folder it came from, "." when flat
    label: str
    group: str
    dataset: str  # dfdc | ffpp | sample | ... (:func:`dataset_of`)


@dataclass(frozen=True)
class ReadyCrop:
    path: Path
    video: str
    label: str
    group: str
    dataset: str


@dataclass(frozen=True)
class Reject:
    video: str
    part: str
    path: str
    reason: str


class LayoutError(DeepfakeError, ValueError):
    """The raw folder matches no known layout (the message says what was looked for)."""


def folder_layout(folder: Path) -> str | None:
    """The layout of one folder by itself (``None``: it holds no known layout)."""
    if (folder / "metadata.csv").exists() and (folder / "faces_224").is_dir():
        return FACES_SOURCE
    if (folder / "metadata.json").exists():
        return VIDEO_SOURCE
    return None


def detect_layout(raw_dir: Path) -> str:
    """``deepfake_faces`` or ``dfdc_videos`` for a single-layout folder, ``mixed`` for a folder of
    parts with different layouts."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise LayoutError(f"{raw_dir}: raw data folder not found (run `deepfake data sample` or `dvc pull`)")
    layouts = {layout for _, _, layout in source_parts(raw_dir)}
    if not layouts:
        raise LayoutError(
            f"{raw_dir}: no known layout: expected metadata.json (+ *.mp4), part folders with "
            "metadata.json, or metadata.csv + faces_224/ (Kaggle deepfake-faces), here or in its sub-folders"
        )
    return layouts.pop() if len(layouts) == 1 else "mixed"


def source_parts(raw_dir: Path) -> list[tuple[str, Path, str]]:
    """``(part name, folder, layout)`` of the raw folder itself (part ``.``) when it has a layout,
    then of every sub-folder that has one, sorted by name. A ready-crop folder's ``faces_224`` is
    never a part of its own."""
    raw_dir = Path(raw_dir)
    parts = []
    root = folder_layout(raw_dir)
    if root:
        parts.append((ROOT_PART, raw_dir, root))
    if root == FACES_SOURCE:
        return parts
    for sub in sorted(p for p in raw_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        layout = folder_layout(sub)
        if layout:
            parts.append((sub.name, sub, layout))
    return parts


def part_folders(raw_dir: Path) -> list[tuple[str, Path]]:
    """``(part name, folder)`` for every folder holding a metadata.json (clips), sorted by name."""
    return [(name, folder) for name, folder, layout in source_parts(raw_dir) if layout == VIDEO_SOURCE]


def part_file_stem(part: str) -> str:
    """File-name-safe name of a part for its per-part manifest."""
    return "root" if part == ROOT_PART else part


def _normalise_label(value: object) -> str | None:
    label = str(value).strip().upper() if value is not None else ""
    return label if label in LABELS else None


def _resolve_original(original: str, known: set[str]) -> str:
    """Map a FAKE's ``original`` to a clip name of the dataset.

    DFDC names originals directly. FaceForensics++ fakes name their target as ``004.mp4`` while the
    real clip may be stored with a prefix (``ffpp_004.mp4``): a unique ``*_004.mp4`` match is used.
    """
    if original in known:
        return original
    matches = [k for k in known if k.endswith("_" + original)]
    return matches[0] if len(matches) == 1 else original


def read_metadata_json(folder: Path) -> dict[str, dict]:
    path = folder / "metadata.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LayoutError(f"{path}: unreadable metadata.json ({exc})") from exc
    if not isinstance(meta, dict):
        raise LayoutError(f"{path}: metadata.json must map file names to records")
    return meta


def list_clips(raw_dir: Path, part: str | None = None) -> tuple[list[Clip], list[Reject]]:
    """Every labelled clip of a DFDC-layout folder (or of one part), plus rejects with reasons.

    Originals are resolved against the metadata of every part, so listing one part (a fanned-out
    extract task) gives the same groups as listing them all."""
    raw_dir = Path(raw_dir)
    every = part_folders(raw_dir)
    folders = every if part is None else [(n, f) for n, f in every if n == part]
    if part is not None and not folders:
        raise LayoutError(f"{raw_dir}: no part folder named {part!r} with a metadata.json")
    metas = {name: read_metadata_json(folder) for name, folder in every}
    known = {v for meta in metas.values() for v in meta}
    known_real = {
        v
        for meta in metas.values()
        for v, rec in meta.items()
        if isinstance(rec, dict) and _normalise_label(rec.get("label")) == "REAL"
    }
    clips: list[Clip] = []
    rejects: list[Reject] = []
    for name, folder in folders:
        meta = metas[name]
        for video, rec in sorted(meta.items()):
            path = folder / video
            if not isinstance(rec, dict):
                rejects.append(Reject(video, name, str(path), "metadata.json: record is not an object"))
                continue
            label, original = _normalise_label(rec.get("label")), rec.get("original")
            problem = _unusable("metadata.json", "file", rec.get("label"), path, original)
            if problem:
                rejects.append(Reject(video, name, str(path), problem))
                continue
            group = _resolve_original(str(original), known_real or known) if label == "FAKE" else video
            clips.append(Clip(path, video, name, label, group, dataset_of(video, rec)))
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in VIDEO_SUFFIXES and path.name not in meta:
                rejects.append(Reject(path.name, name, str(path), "clip not listed in metadata.json"))
    _warn_orphans(rejects)
    return clips, rejects


def _unusable(listing: str, kind: str, label: object, path: Path, original: object) -> str | None:
    """Why a row of a metadata listing (``metadata.json`` of clips, ``metadata.csv`` of crops) cannot be
    used: a label that is not REAL or FAKE, its ``kind`` of file missing, a FAKE naming no original."""
    normalised = _normalise_label(label)
    if normalised is None:
        return f"{listing}: label {label!r} is not REAL or FAKE"
    if not path.exists():
        return f"listed in {listing} but {kind} is missing"
    if normalised == "FAKE" and not original:
        return f"{listing}: {NO_ORIGINAL}"
    return None


def _warn_orphans(rejects: list[Reject]) -> None:
    """One warning naming the FAKEs rejected for having no original (they are easy to miss)."""
    orphans = [r.path for r in rejects if r.reason.endswith(NO_ORIGINAL)]
    if orphans:
        shown = ", ".join(orphans[:5]) + (f" and {len(orphans) - 5} more" if len(orphans) > 5 else "")
        log.warning("%d FAKE clip(s) rejected: no 'original' in the metadata: %s", len(orphans), shown)


def list_ready_crops(raw_dir: Path) -> tuple[list[ReadyCrop], list[Reject]]:
    """Face crops of the Kaggle deepfake-faces layout, plus rejects with reasons."""
    raw_dir = Path(raw_dir)
    meta_path = raw_dir / "metadata.csv"
    try:
        meta = pd.read_csv(meta_path, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LayoutError(f"{meta_path}: unreadable metadata.csv ({exc})") from exc
    missing = {"videoname", "label", "original"} - set(meta.columns)
    if missing:
        raise LayoutError(f"{meta_path}: missing column(s) {', '.join(sorted(missing))}")
    crops: list[ReadyCrop] = []
    rejects: list[Reject] = []
    faces_dir = raw_dir / "faces_224"
    for row in meta.itertuples(index=False):
        video = str(row.videoname)
        path = faces_dir / (Path(video).stem + ".jpg")
        label = _normalise_label(row.label)
        original = row.original if isinstance(row.original, str) and row.original.strip() else None
        problem = _unusable("metadata.csv", "crop", row.label, path, original)
        if problem:
            rejects.append(Reject(video, ROOT_PART, str(path), problem))
            continue
        group = original or video  # a REAL row names an original only in the feedback set: its clip
        named = getattr(row, "dataset", None)  # an optional metadata.csv column
        dataset = dataset_of(video, {"dataset": named} if isinstance(named, str) else None)
        crops.append(ReadyCrop(path, video, label, group, dataset))
    _warn_orphans(rejects)
    return crops, rejects
