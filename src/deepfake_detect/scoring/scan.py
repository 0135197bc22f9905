"""``deepfake score``: scan files and folders locally through the service's scoring path
(:mod:`deepfake_detect.scoring.scorer`), with a progress bar, a summary table, JSON lines and CSV.

Outputs never replace what is there: the CSV may not be an input (ever, under any name: a hard link
of one is refused too) nor an existing file (without ``force``); the Grad-CAM folder may not hold an
input (ever) nor any file (without ``force``); overlays are named ``<stem>-<path hash>_<frame>_<face>.png``,
so same-named inputs in two folders never share one. Both are checked before anything is scored. The
summary table prints names escaped (:func:`deepfake_detect.scoring.names.printable`)."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from deepfake_detect.config import Params
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.media.checks import IMAGE_SUFFIXES, ScoringError
from deepfake_detect.media.video import VIDEO_SUFFIXES
from deepfake_detect.scoring.names import printable
from deepfake_detect.scoring.scorer import Scorer

log = logging.getLogger(__name__)
CSV_COLUMNS = [
    "path",
    "kind",
    "label",
    "probability",
    "faces_found",
    "frames_sampled",
    "model_tag",
    "error",
    "detail",
    "seconds",
]


class ScanInputError(DeepfakeError, ValueError):
    """A path on the command line that does not exist, holds no media, or an output that would
    overwrite an input or an existing file (the message names it)."""


def collect_media(paths: list[Path]) -> list[Path]:
    """Media files named or found (recursively) in folders, in a stable order."""
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise ScanInputError(f"{p}: no such file or folder")
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in (*VIDEO_SUFFIXES, *IMAGE_SUFFIXES)
            )
            if not found:
                log.warning("%s: no video or image files inside", p)
            files += found
        else:
            files.append(p)
    if not files:
        raise ScanInputError("no media files to score")
    return files


def check_outputs(files: list[Path], csv_path: Path | None, explain_dir: Path | None, force: bool = False) -> None:
    """Refuse outputs that would overwrite an input (always) or an existing file (unless ``force``)."""
    inputs = {f.resolve() for f in files}
    if csv_path is not None:
        if csv_path.resolve() in inputs or _same_file_as_any(csv_path, files):
            raise ScanInputError(f"--csv {csv_path}: is an input being scored; choose another file")
        if csv_path.is_dir():
            raise ScanInputError(f"--csv {csv_path}: is a folder; name a file")
        if csv_path.exists() and not force:
            raise ScanInputError(f"--csv {csv_path}: exists; choose another file or pass --force to replace it")
    if explain_dir is not None and explain_dir.exists():
        if not explain_dir.is_dir():
            raise ScanInputError(f"--explain {explain_dir}: exists and is not a folder")
        held = explain_dir.resolve()
        if any(held in f.parents for f in inputs):
            raise ScanInputError(f"--explain {explain_dir}: holds input files; choose a folder of its own")
        if any(explain_dir.iterdir()) and not force:
            raise ScanInputError(
                f"--explain {explain_dir}: folder is not empty; choose another or pass --force to write into it"
            )


def _same_file_as_any(path: Path, files: list[Path]) -> bool:
    """``path`` is one of ``files`` under another name (a hard link: the same device and inode)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    return any((f.stat().st_dev, f.stat().st_ino) == (st.st_dev, st.st_ino) for f in files)


def _cell(text: object) -> str:
    """What the table prints of a name or message: control characters escaped, rich markup shown as text."""
    from rich.markup import escape

    return escape(printable(text))


def heatmap_stem(path: str | Path) -> str:
    """``<file stem>-<8 hex of its absolute path>``: readable, and unique across folders."""
    digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]
    return f"{Path(path).stem}-{digest}"


def score_path(scorer: Scorer, path: Path, crop: bool = False, explain: bool = False) -> dict[str, Any]:
    """One file → a result dict with ``path``; bad files give ``label`` ERROR and the error."""
    try:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            result = scorer.score_video(path, str(path), explain=explain, endpoint="cli")
        else:
            result = scorer.score_image(path, str(path), crop=crop, explain=explain, endpoint="cli")
    except ScoringError as exc:
        return {"path": str(path), "label": "ERROR", "probability": None, **exc.to_dict(), "status": exc.status}
    return {"path": str(path), **result}


def write_heatmaps(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Grad-CAM overlays of a result as ``<file stem>-<path hash>_f<frame>_<face>.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    stem = heatmap_stem(result["path"])
    for fr in result.get("frames") or []:
        for face in fr["faces"]:
            if face.get("heatmap_png"):  # FaceScore.heatmap_png: None unless explained
                frame = "img" if fr["frame"] is None else f"f{fr['frame']}"
                target = out_dir / f"{stem}_{frame}_{face['face']}.png"
                target.write_bytes(base64.b64decode(face["heatmap_png"]))
                written.append(target)
    return written


def run_scan(
    params: Params,
    scorer: Scorer,
    paths: list[Path],
    *,
    as_json: bool = False,
    csv_path: Path | None = None,
    explain_dir: Path | None = None,
    crop: bool = False,
    force: bool = False,
) -> list[dict[str, Any]]:
    """Score every file; JSON lines on stdout (``as_json``), CSV rows, heatmaps; returns the results.

    ``force`` lets the CSV replace an existing file and overlays go into a non-empty folder."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    files = collect_media(paths)
    check_outputs(files, csv_path, explain_dir, force)
    console = Console(stderr=True)
    results: list[dict[str, Any]] = []
    csv_fh = csv_path.open("w", newline="") if csv_path else None
    writer = csv.DictWriter(csv_fh, fieldnames=CSV_COLUMNS, extrasaction="ignore") if csv_fh else None
    if writer:
        writer.writeheader()
    try:
        with Progress(
            TextColumn("scoring {task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("score", total=len(files), name="")
            for path in files:
                progress.update(task, name=_cell(path.name))
                result = score_path(scorer, path, crop=crop, explain=explain_dir is not None)
                result["seconds"] = (result.get("timings") or {}).get("total_s")
                if explain_dir is not None and result["label"] != "ERROR":
                    write_heatmaps(result, explain_dir)
                for fr in result.get("frames") or []:  # heatmaps went to files, keep the JSON lean
                    for face in fr["faces"]:
                        face.pop("heatmap_png", None)
                results.append(result)
                if as_json:
                    sys.stdout.write(json.dumps(result) + "\n")
                    sys.stdout.flush()
                if writer:
                    writer.writerow(result)
                progress.advance(task)
    finally:
        if csv_fh:
            csv_fh.close()
    model = f"model {_cell(scorer.info.tag)}, threshold {scorer.info.threshold:.3f}"
    table = Table(title=f"deepfake score: {len(results)} file(s), {model}")
    for col in ("file", "label", "P(FAKE)", "faces", "seconds / error"):
        table.add_column(col)
    for r in results:
        prob = "" if r.get("probability") is None else f"{r['probability']:.3f}"
        tail = r["detail"] if r["label"] == "ERROR" else f"{r['seconds']:.2f}"
        table.add_row(_cell(Path(r["path"]).name), r["label"], prob, str(r.get("faces_found", "")), _cell(tail))
    console.print(table)
    counts = Counter(r["label"] for r in results)
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return results
