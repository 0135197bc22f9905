"""``deepfake score``: scan files and folders locally through the service's scoring path
(:mod:`deepfake_detect.scoring`), with a progress bar, a summary table, JSON lines and CSV."""

from __future__ import annotations

import base64
import csv
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .config import Params
from .scoring import IMAGE_SUFFIXES, Scorer, ScoringError
from .video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)
CSV_COLUMNS = ["path", "kind", "label", "probability", "faces_found", "frames_sampled", "model_tag", "error",
               "detail", "seconds"]


class ScanInputError(ValueError):
    """A path on the command line that does not exist or holds no media."""


def collect_media(paths: list[Path]) -> list[Path]:
    """Media files named or found (recursively) in folders, in a stable order."""
    files: list[Path] = []
    for p in paths:
        if not p.exists():
            raise ScanInputError(f"{p}: no such file or folder")
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in (*VIDEO_SUFFIXES,
                                                                                          *IMAGE_SUFFIXES))
            if not found:
                log.warning("%s: no video or image files inside", p)
            files += found
        else:
            files.append(p)
    if not files:
        raise ScanInputError("no media files to score")
    return files


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
    """Grad-CAM overlays of a result as ``<file stem>_f<frame>_<face>.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    stem = Path(result["path"]).stem
    for fr in result.get("frames") or []:
        for face in fr["faces"]:
            if "heatmap_png" in face:
                frame = "img" if fr["frame"] is None else f"f{fr['frame']}"
                target = out_dir / f"{stem}_{frame}_{face['face']}.png"
                target.write_bytes(base64.b64decode(face["heatmap_png"]))
                written.append(target)
    return written


def run_scan(params: Params, scorer: Scorer, paths: list[Path], *, as_json: bool = False, csv_path: Path | None = None,
             explain_dir: Path | None = None, crop: bool = False) -> list[dict[str, Any]]:
    """Score every file; JSON lines on stdout (``as_json``), CSV rows, heatmaps; returns the results."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    files = collect_media(paths)
    console = Console(stderr=True)
    results: list[dict[str, Any]] = []
    csv_fh = csv_path.open("w", newline="") if csv_path else None
    writer = csv.DictWriter(csv_fh, fieldnames=CSV_COLUMNS, extrasaction="ignore") if csv_fh else None
    if writer:
        writer.writeheader()
    try:
        with Progress(TextColumn("scoring {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("score", total=len(files), name="")
            for path in files:
                progress.update(task, name=path.name)
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
    table = Table(title=f"deepfake score: {len(results)} file(s), model {scorer.info.tag}, "
                  f"threshold {scorer.info.threshold:.3f}")
    for col in ("file", "label", "P(FAKE)", "faces", "seconds / error"):
        table.add_column(col)
    for r in results:
        prob = "" if r.get("probability") is None else f"{r['probability']:.3f}"
        tail = r["detail"] if r["label"] == "ERROR" else f"{r['seconds']:.2f}"
        table.add_row(Path(r["path"]).name, r["label"], prob, str(r.get("faces_found", "")), tail)
    console.print(table)
    counts = Counter(r["label"] for r in results)
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return results
