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
from typing import Any, NamedTuple

from deepfake_detect.errors import DeepfakeError
from deepfake_detect.media.checks import ScoringError, media_files
from deepfake_detect.media.video import VIDEO_SUFFIXES
from deepfake_detect.scoring.names import printable
from deepfake_detect.scoring.result import ScoreError, ScoreResult
from deepfake_detect.scoring.scorer import Scorer

log = logging.getLogger(__name__)
UNFAMILIAR_NOTE = "unlike the training data: verdict unreliable"
UNFAMILIAR_REASONS = {  # ScoreResult.unfamiliar_reasons in words
    "faces": "faces unlike the training faces",
    "compression": "compressed harder than the training clips",
}
CSV_COLUMNS = [  # path, then ScoreResult / ScoreError fields, then timings.total_s
    "path",
    "kind",
    "label",
    "probability",
    "faces_found",
    "frames_sampled",
    "unfamiliar",
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
            found = media_files(p)
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


class Scanned(NamedTuple):
    """One scanned file: its path and the service's answer for it (a result or an error)."""

    path: Path
    result: ScoreResult | ScoreError

    @property
    def failed(self) -> bool:
        return isinstance(self.result, ScoreError)

    def json_line(self) -> dict[str, Any]:
        """``{"path", **ScoreResult}`` (heatmaps went to files) or ``{"path", **ScoreError}``."""
        return {"path": str(self.path), **self.result.model_dump(exclude=_HEATMAPS)}

    def csv_row(self) -> dict[str, Any]:
        seconds = None if self.failed else self.result.timings.get("total_s")
        fields = self.result.model_dump(include=set(CSV_COLUMNS))
        return {"path": str(self.path), **fields, "seconds": seconds}


_HEATMAPS = {"frames": {"__all__": {"faces": {"__all__": {"heatmap_png"}}}}}


def score_path(scorer: Scorer, path: Path, crop: bool = False, explain: bool = False) -> Scanned:
    """One file scored; a file the media checks refuse gives a :class:`ScoreError` (what the
    service's batch answer holds for it), never a label."""
    try:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            result = scorer.score_video(path, str(path), explain=explain, endpoint="cli")
        else:
            result = scorer.score_image(path, str(path), crop=crop, explain=explain, endpoint="cli")
    except ScoringError as exc:
        return Scanned(path, ScoreError(file=str(path), **exc.to_dict(), status=exc.status))
    return Scanned(path, result)


def write_heatmaps(scanned: Scanned, out_dir: Path) -> list[Path]:
    """Grad-CAM overlays of a result as ``<file stem>-<path hash>_f<frame>_<face>.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    stem = heatmap_stem(scanned.path)
    for fr in scanned.result.frames:
        for face in fr.faces:
            if face.heatmap_png:  # None unless explained
                frame = "img" if fr.frame is None else f"f{fr.frame}"
                target = out_dir / f"{stem}_{frame}_{face.face}.png"
                target.write_bytes(base64.b64decode(face.heatmap_png))
                written.append(target)
    return written


def run_scan(
    scorer: Scorer,
    paths: list[Path],
    *,
    as_json: bool = False,
    csv_path: Path | None = None,
    explain_dir: Path | None = None,
    crop: bool = False,
    force: bool = False,
) -> list[Scanned]:
    """Score every file; JSON lines on stdout (``as_json``), CSV rows, heatmaps; returns what was scanned.

    ``force`` lets the CSV replace an existing file and overlays go into a non-empty folder."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    files = collect_media(paths)
    check_outputs(files, csv_path, explain_dir, force)
    console = Console(stderr=True)
    results: list[Scanned] = []
    csv_fh = csv_path.open("w", newline="") if csv_path else None
    writer = csv.DictWriter(csv_fh, fieldnames=CSV_COLUMNS) if csv_fh else None
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
                scanned = score_path(scorer, path, crop=crop, explain=explain_dir is not None)
                if explain_dir is not None and not scanned.failed:
                    write_heatmaps(scanned, explain_dir)
                results.append(scanned)
                if as_json:
                    sys.stdout.write(json.dumps(scanned.json_line()) + "\n")
                    sys.stdout.flush()
                if writer:
                    writer.writerow(scanned.csv_row())
                progress.advance(task)
    finally:
        if csv_fh:
            csv_fh.close()
    console.print(summary(scorer, results))
    counts = Counter("error" if s.failed else s.result.label for s in results)
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return results


def summary(scorer: Scorer, results: list[Scanned]) -> Any:
    """The table printed after a scan: one row per file, its label or its error."""
    from rich.table import Table

    model = f"model {_cell(scorer.info.tag)}, threshold {scorer.info.threshold:.3f}"
    table = Table(title=f"deepfake score: {len(results)} file(s), {model}")
    for col in ("file", "label", "P(FAKE)", "faces", "seconds / error"):
        table.add_column(col)
    for s in results:
        r = s.result
        if isinstance(r, ScoreError):
            table.add_row(_cell(s.path.name), f"error {r.status}", "", "", _cell(r.detail))
            continue
        prob = "" if r.probability is None else f"{r.probability:.3f}"
        why = ", ".join(UNFAMILIAR_REASONS[x] for x in r.unfamiliar_reasons)
        tail = f"{r.timings['total_s']:.2f}" + (f" · {UNFAMILIAR_NOTE} ({why})" if r.unfamiliar else "")
        table.add_row(_cell(s.path.name), r.label, prob, str(r.faces_found), _cell(tail))
    return table
