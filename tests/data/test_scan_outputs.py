"""`deepfake score`'s outputs (--csv, --explain) never overwrite an input or an existing file
without --force, and Grad-CAM overlays of same-named inputs in two folders never collide.

The scorer is a stand-in returning one face with a heatmap per file: these tests are about the
files the CLI writes, not about scoring (tests/serving covers that with a real model)."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from deepfake_detect.media.checks import ScoringError
from deepfake_detect.scoring.result import FaceScore, FrameScore, MediaInfo, ScoreError, ScoreResult
from deepfake_detect.scoring.scan import CSV_COLUMNS, ScanInputError, run_scan

PNG = b"\x89PNG\r\n\x1a\n" + b"overlay"


class StubScorer:
    """Scores every file REAL with one face and a Grad-CAM overlay naming the file; a file named
    ``bad*`` is refused as the media checks refuse one."""

    info = SimpleNamespace(tag="stub", threshold=0.5)

    def score_image(self, path, name=None, *, crop=False, explain=False, endpoint="cli"):
        if Path(path).name.startswith("bad"):
            raise ScoringError(415, "unsupported_media", f"{name}: not a video or image this service reads")
        heatmap = base64.b64encode(PNG + str(path).encode()).decode("ascii") if explain else None
        face = FaceScore(face=0, person=0, box=[0, 0, 8, 8], confidence=None, probability=0.1, label="REAL")
        return ScoreResult(
            file=str(name),
            kind="image",
            label="REAL",
            probability=0.1,
            threshold=0.5,
            faces_found=1,
            frames_sampled=None,
            frames_with_faces=None,
            model_tag="stub",
            bento_tag=None,
            media=MediaInfo(width=8, height=8, channels=3, ready_crop=crop),
            people=[],
            frames=[FrameScore(frame=None, probability=0.1, faces=[face.model_copy(update={"heatmap_png": heatmap})])],
            request_id="r",
            timings={"total_s": 0.01},
        )

    score_video = score_image


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff\xe0 not decoded by the stub")
    return path


def _scan(paths, **kwargs):
    return run_scan(StubScorer(), paths, **kwargs)


def test_csv_onto_an_input_is_refused_even_with_force(tmp_path: Path):
    img = _image(tmp_path / "x.jpg")
    before = img.read_bytes()
    with pytest.raises(ScanInputError, match=r"x\.jpg.*is an input"):
        _scan([img], csv_path=img)
    assert img.read_bytes() == before
    with pytest.raises(ScanInputError, match="is an input"):  # the same file spelled another way
        _scan([tmp_path], csv_path=tmp_path / "." / "x.jpg", force=True)
    assert img.read_bytes() == before


def test_csv_onto_an_existing_file_needs_force(tmp_path: Path):
    img = _image(tmp_path / "in" / "x.jpg")
    out = tmp_path / "scores.csv"
    out.write_text("yesterday's scores\n")
    with pytest.raises(ScanInputError, match=r"scores\.csv.*exists.*--force"):
        _scan([img], csv_path=out)
    assert out.read_text() == "yesterday's scores\n"
    _scan([img], csv_path=out, force=True)
    assert [r["path"] for r in csv.DictReader(out.open())] == [str(img)]


def test_same_stem_in_two_folders_gives_two_heatmaps(tmp_path: Path):
    a, b = _image(tmp_path / "a" / "x.jpg"), _image(tmp_path / "b" / "x.jpg")
    cams = tmp_path / "cams"
    _scan([a, b], explain_dir=cams)
    written = sorted(cams.iterdir())
    assert len(written) == 2
    assert {p.read_bytes() for p in written} == {PNG + str(a).encode(), PNG + str(b).encode()}
    assert all(p.name.startswith("x") and p.suffix == ".png" for p in written)


def test_explain_folder_with_files_needs_force_and_never_holds_inputs(tmp_path: Path):
    img = _image(tmp_path / "in" / "x.jpg")
    cams = tmp_path / "cams"
    cams.mkdir()
    (cams / "old.png").write_bytes(b"an earlier overlay")
    with pytest.raises(ScanInputError, match=r"cams.*not empty.*--force"):
        _scan([img], explain_dir=cams)
    _scan([img], explain_dir=cams, force=True)
    assert (cams / "old.png").read_bytes() == b"an earlier overlay" and len(list(cams.iterdir())) == 2
    with pytest.raises(ScanInputError, match="holds input"):  # overlays written among the inputs
        _scan([img], explain_dir=img.parent, force=True)


def test_cli_refuses_csv_onto_its_input_before_loading_a_model(tmp_path: Path):
    from typer.testing import CliRunner

    from deepfake_detect.cli.main import app

    img = _image(tmp_path / "x.jpg")
    before = img.read_bytes()
    result = CliRunner().invoke(app, ["score", str(img), "--csv", str(img), "--model-dir", str(tmp_path / "none")])
    assert result.exit_code == 2 and "is an input" in result.output, result.output
    assert img.read_bytes() == before


def test_a_refused_file_is_a_score_error_not_a_made_up_label(tmp_path: Path, capsys):
    good, bad = _image(tmp_path / "in" / "a.jpg"), _image(tmp_path / "in" / "bad.jpg")
    out = tmp_path / "scores.csv"
    scanned = _scan([good, bad], csv_path=out, as_json=True)
    assert [type(s.result) for s in scanned] == [ScoreResult, ScoreError]
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["label"] == "REAL" and "heatmap_png" not in lines[0]["frames"][0]["faces"][0]
    assert set(lines[1]) == {"path", *ScoreError.model_fields} and lines[1]["error"] == "unsupported_media"
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == CSV_COLUMNS
    assert rows[1]["label"] == "" and rows[1]["error"] == "unsupported_media" and "bad.jpg" in rows[1]["detail"]
    assert rows[0]["label"] == "REAL" and rows[0]["seconds"] == "0.01"
